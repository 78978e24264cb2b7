import ArgumentParser
import Foundation
import OctetData
import OctetGraph
import OctetQuant
import OctetRuntime

/// `octet convert`: quantize (`--int8`), prepare, or load, validate and re-save a model.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Quantize a model to INT8 Q/DQ ONNX (--int8), prepare it (--prepare), or re-save it with weights moved to or from external data.",
        discussion: """
            With --int8 the ranges come from --calibration-data (calibrated as 'octet calibrate' \
            does), --load-stats, or an existing --calibration-cache (a TensorRT cache is \
            migrated); the model is prepared as --prepare does, and Q/DQ pairs are placed by \
            TensorRT's rules: on the activation and weight inputs of Conv, ConvTranspose, Gemm and \
            MatMul (weights per channel) and on the identity branch of residual Adds. Every \
            candidate node is listed with the reason when it stays in float. The model is \
            written atomically: a temporary file that is renamed once complete, so an \
            interrupted run leaves no half-written output. Weights are embedded unless the model \
            would pass protobuf's 2 GB limit, --save-external-data is given, or (with --int8) \
            the source keeps them in external data.
            """
    )

    @Argument(help: "The ONNX model to read.")
    var model: String

    @Option(name: [.short, .long], help: "Where to write the model.")
    var output: String

    @Flag(help: "Store weights in an external data file beside the output model.")
    var saveExternalData = false

    @Flag(help: "Embed every weight in the model file, even past 2 GB (which then fails).")
    var noExternalData = false

    @Option(help: "External data file name, relative to the output's folder (default: <output name>.data).")
    var externalDataPath: String?

    @Option(help: "Smallest tensor, in bytes, moved to external data.")
    var externalDataSizeThreshold = 1024

    @Flag(help: "Prepare the model for INT8 as --int8 will: Constant weights become initializers, the opset is raised to 13, nodes computing only from constants are folded, BatchNormalization after Conv is folded.")
    var prepare = false

    @Flag(help: "With --prepare or --int8: leave BatchNormalization nodes as they are.")
    var noFoldBatchNorm = false

    @Flag(help: "Write an explicitly quantized (Q/DQ) INT8 model for TensorRT and ONNX Runtime, with ranges from --calibration-data, --load-stats or an existing --calibration-cache.")
    var int8 = false

    @OptionGroup var data: CalibrationDataOptions
    @OptionGroup var method: CalibrationMethodOptions
    @OptionGroup var calibration: CalibrationOutputOptions

    @Option(name: .long, parsing: .upToNextOption, help: "With --int8: stats files to take the ranges from instead of calibrating.")
    var loadStats: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "With --int8: node names (regular expressions, matched in full) to leave in float.")
    var excludeNodes: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "With --int8: operator types to leave in float.")
    var excludeOpTypes: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "With --int8: the operator types to quantize (default: Conv ConvTranspose Gemm MatMul).")
    var opTypes: [String] = []

    @Flag(help: "With --int8: store weights as int8 behind a DequantizeLinear only (about 4× smaller; TensorRT and ONNX Runtime accept it) instead of float weights behind Quantize → Dequantize.")
    var weightsInt8 = false

    @Flag(help: "With --int8: fail when a tensor the placement needs has no range (instead of leaving its node in float).")
    var strict = false

    @Flag(help: "With --int8: print which nodes would be quantized and why the others would not; write nothing.")
    var dryRun = false

    @Flag(help: "Print the --int8 report as JSON.")
    var json = false

    @Option(name: .long, parsing: .upToNextOption, help: "With --int8: samples to compare FP32 and INT8 on (the calibration data's formats); default: a held-out share of the calibration data.")
    var evalData: [String] = []

    @Option(help: "With --int8 and --eval-data: a .npy of integer class labels, one per row of the model's class-score output ([batch, classes]) in sample order; INT8 then keeps accuracy when its task accuracy is within --max-accuracy-drop of FP32's.")
    var evalLabels: String?

    @Option(name: [.customLong("max-accuracy-drop"), .customLong("max-drop")],
            help: "With --eval-labels: the largest drop in task accuracy, in percentage points, for INT8 to count as keeping accuracy (and the goal of --target-metric).")
    var maxAccuracyDrop: Double = 1.0

    @Option(help: "With --int8 and no --eval-data: the share of the calibration samples held out of calibration and used to evaluate (every ⌈1/F⌉-th sample; 0 turns evaluation off).")
    var evalFraction: Double = 0.1

    @Option(help: "With --int8: the smallest mean cosine similarity per output for INT8 to count as keeping accuracy.")
    var minCosine: Double = 0.99

    @Option(help: "With --int8: the smallest top-1 agreement (0–1) for class-score outputs.")
    var minTop1: Double = 0.99

    @Option(help: "With --int8: fix the damage one step at a time — another range method for the worst nodes' inputs, else the most damaging node back to FP32 — until every output's mean cosine similarity on the evaluation samples reaches this value (statistics are reused, not recalibrated).")
    var targetCosine: Double?

    @Option(help: "With --int8: fix the damage step by step (as --target-cosine does) until the task metric is within --max-drop of FP32's. top1: the arg-max of the first class-score output against --eval-labels (drop in points); or script.py[:function] (default function: score), called with the list of per-sample dicts {output name: array} and returning one number, higher is better (drop in its units).")
    var targetMetric: String?

    @Option(help: "With --target-metric script.py: seconds the script may take to score one model before it is stopped.")
    var targetMetricTimeout: Double = 600

    @Option(help: "With --target-cosine or --target-metric: also try SmoothQuant on the damaged MatMul/Gemm nodes with a constant weight (per input channel s = max|x|^A / max|w|^(1-A); the activation divided by s, the weight rows multiplied by s), kept only when it measurably helps. A in (0, 1]; 0.5 is usual.")
    var smoothAlpha: Double?

    @Option(help: "With --int8: write the evaluation, the placement decisions and the ranges to this file: JSON, or with a .html name one self-contained page with charts (per-node SQNR, |x| histograms with each method's threshold, the fallback steps). May be given twice.")
    var report: [String] = []

    @Option(help: "Threads for the engine (default: all cores).")
    var threads: Int?

    @Flag(help: "Show calibration progress on stderr even when it is not a terminal.")
    var progress = false

    func validate() throws {
        if noFoldBatchNorm && !prepare && !int8 { throw ValidationError("--no-fold-batch-norm goes with --prepare or --int8.") }
        if !int8 && (!data.isEmpty || !loadStats.isEmpty || calibration.calibrationCache != nil || dryRun || !excludeNodes.isEmpty
            || !excludeOpTypes.isEmpty || !opTypes.isEmpty || strict || !evalData.isEmpty || evalLabels != nil || !report.isEmpty || weightsInt8) {
            throw ValidationError("Calibration and placement options go with --int8.")
        }
        if int8 && data.isEmpty && loadStats.isEmpty && calibration.calibrationCache == nil {
            throw ValidationError("--int8 needs ranges: give --calibration-data PATH..., --load-stats FILE... or an existing --calibration-cache FILE.")
        }
        if !loadStats.isEmpty && !data.isEmpty {
            throw ValidationError("--load-stats takes the ranges from saved statistics; give it without --calibration-data.")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1.") }
        if evalLabels != nil && evalData.isEmpty {
            throw ValidationError("--eval-labels label the samples of --eval-data; give both.")
        }
        if let targetCosine, !(targetCosine > 0 && targetCosine <= 1) { throw ValidationError("--target-cosine is a cosine similarity in (0, 1].") }
        if targetCosine != nil && (!int8 || dryRun) { throw ValidationError("--target-cosine needs --int8 (and no --dry-run).") }
        let reports = report.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if Set(reports).count != reports.count || reports.contains(URL(fileURLWithPath: output).standardizedFileURL.path) {
            throw ValidationError("each --report needs its own file, other than the -o model.")
        }
        if let smoothAlpha {
            if !(smoothAlpha > 0 && smoothAlpha <= 1) { throw ValidationError("--smooth-alpha is in (0, 1]; 0.5 is usual.") }
            if targetCosine == nil && targetMetric == nil { throw ValidationError("--smooth-alpha is tried by --target-cosine or --target-metric; give one of them.") }
        }
        if !(targetMetricTimeout > 0) { throw ValidationError("--target-metric-timeout must be a positive number of seconds.") }
        if let targetMetric {
            if !int8 || dryRun { throw ValidationError("--target-metric needs --int8 (and no --dry-run).") }
            if targetMetric == "top1" {
                if evalLabels == nil { throw ValidationError("--target-metric top1 needs --eval-data and --eval-labels.") }
            } else if !ScoringScript.isScript(targetMetric) {
                throw ValidationError("--target-metric is top1 or a Python script (script.py or script.py:function), not '\(targetMetric)'.")
            }
        }
        if !(0...100).contains(maxAccuracyDrop) { throw ValidationError("--max-accuracy-drop is in percentage points, from 0 to 100.") }
        if !(0...0.5).contains(evalFraction) { throw ValidationError("--eval-fraction must be from 0 to 0.5.") }
        if !(-1...1).contains(minCosine) || !(0...1).contains(minTop1) {
            throw ValidationError("--min-cosine must be from -1 to 1 and --min-top1 from 0 to 1.")
        }
        for pattern in excludeNodes where (try? NSRegularExpression(pattern: pattern)) == nil {
            throw ValidationError("--exclude-nodes: '\(pattern)' is not a regular expression.")
        }
        if ["plan", "engine", "trt"].contains(URL(fileURLWithPath: output).pathExtension.lowercased()) {
            throw ValidationError("""
                Octet writes explicitly quantized ONNX, not TensorRT engines. Write \(URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent).int8.onnx, then build the engine on the target GPU with:
                  trtexec --onnx=\(URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent).int8.onnx --int8 --saveEngine=\(output)
                or: polygraphy convert \(URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent).int8.onnx --int8 -o \(output)
                """)
        }
        if saveExternalData && noExternalData {
            throw ValidationError("--save-external-data and --no-external-data contradict each other; give one.")
        }
        if externalDataSizeThreshold < 0 { throw ValidationError("--external-data-size-threshold must be 0 or more.") }
    }

    func run() throws {
        if let threads { ThreadPool.threads = threads }
        if int8 { return try Int8Conversion(command: self).run() }
        let source = URL(fileURLWithPath: model)
        var loaded = try Model.load(contentsOf: source)
        let files = inputFiles(of: loaded)
        var preparation: ModelPreparation.Report?
        if prepare {
            do { (loaded, preparation) = try ModelPreparation.prepare(loaded, foldBatchNorm: !noFoldBatchNorm) } catch let error as OpsetUpgrade.UpgradeError {
                throw CLIError.message("\(model): \(error.localizedDescription)")
            }
            let problems = loaded.graph.validate(model: loaded)
            if !problems.isEmpty {
                throw CLIError.message("\(model): the prepared model is not valid (please report this): \(problems.joined(separator: "; "))")
            }
        }
        print(try save(loaded, inputFiles: files, keepExternal: false))
        if let preparation {
            let opset = "opset \(preparation.opset.from.map(String.init) ?? "?") → \(preparation.opset.to.map(String.init) ?? "?")"
            print("Prepared: \(opset), \(preparation.constantsMoved) Constant node\(preparation.constantsMoved == 1 ? "" : "s") to initializers, \(preparation.foldedConstants.count) node\(preparation.foldedConstants.count == 1 ? "" : "s") computed from constants folded, \(preparation.foldedBatchNorms.count) BatchNormalization folded into Conv")
        }
    }

    /// The files a model reads: the model and its external data.
    func inputFiles(of loaded: Model) -> [URL] {
        let source = URL(fileURLWithPath: model)
        let folder = source.deletingLastPathComponent()
        // Every file the command reads: the model, its external data, and the data, stats and
        // labels files named on the command line (a loader script's `:function` suffix dropped).
        return [source] + ModelSummary(model: loaded, file: model).externalData.map { folder.appendingPathComponent($0.location) }
            + namedInputs
    }

    /// The data, stats and labels files named on the command line (a loader script's
    /// `:function` suffix dropped).
    var namedInputs: [URL] {
        let scripts = data.dataLoaderScript.map { $0.split(separator: ":").first.map(String.init) ?? $0 }
        return (data.calibrationData + scripts + loadStats + evalData + (evalLabels.map { [$0] } ?? [])).map { URL(fileURLWithPath: $0) }
    }

    /// Checks the output paths and writes `loaded` to `--output` atomically.
    /// - Parameters:
    ///   - inputFiles: files the command reads (never overwritten).
    ///   - keepExternal: keep weights in an external file when the source had one.
    /// - Returns: the `Wrote …` line.
    func save(_ loaded: Model, inputFiles: [URL], keepExternal: Bool) throws -> String {
        let destination = URL(fileURLWithPath: output)
        try OutputPath.check(destination, notAnyOf: inputFiles)
        let sourceHadExternalData = !inputFiles.filter({ $0.path != URL(fileURLWithPath: model).path && !namedInputs.contains($0) }).isEmpty
        let external: SaveOptions.ExternalData = saveExternalData || (keepExternal && sourceHadExternalData && !noExternalData)
            ? .always : noExternalData ? .never : .automatic
        var options = SaveOptions(externalData: external, location: externalDataPath, sizeThreshold: externalDataSizeThreshold)
        let location = options.location ?? destination.lastPathComponent + ".data"
        options.location = location
        let dataFile = destination.deletingLastPathComponent().appendingPathComponent(location)
        if options.externalData != .never {
            try OutputPath.check(dataFile, notAnyOf: inputFiles)
            if OutputPath.canonical(dataFile) == OutputPath.canonical(destination) {
                throw CLIError.message("--external-data-path \(location): the external data would overwrite the model \(output) itself; choose another name")
            }
        }
        let report = try loaded.save(to: destination, options: options)
        var line = "Wrote \(output) (\(formatBytes(report.modelBytes))"
        if let written = report.externalLocation {
            line += "; external data \(written): \(formatBytes(report.externalBytes))"
        }
        return line + ")"
    }
}
