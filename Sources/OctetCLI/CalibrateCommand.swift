import ArgumentParser
import Foundation
import OctetData
import OctetGraph
import OctetQuant
import OctetRuntime

/// `octet calibrate`: collect statistics on the FP32 model and pick INT8 ranges.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Run the FP32 model over calibration data and choose an INT8 range for every tensor.",
        discussion: """
            Samples are read once and matched to the model's inputs by name; each is \
            validated before the model sees it, and every problem of the data is reported at \
            once. The model runs on Octet's CPU engine while a 2,048-bin |x| histogram is kept \
            for every floating-point tensor (graph inputs and activations, inside If/Loop \
            bodies too). Ranges come from the histograms with \
            --calibration-method. Results: a TensorRT calibration cache (--calibration-cache, \
            with a FILE.json sidecar), a JSON file of ranges (--ranges-json) and a stats file \
            (--save-stats) that --load-stats merges and turns into ranges without running the \
            model again. --shard K/N calibrates samples i with i mod N = K; the N shards' stats \
            files merge into exactly the statistics of one full run.
            """
    )

    @Argument(help: "The ONNX model to calibrate.")
    var model: String

    @OptionGroup var data: CalibrationDataOptions
    @OptionGroup var method: CalibrationMethodOptions
    @OptionGroup var outputs: CalibrationOutputOptions

    @Option(name: .long, parsing: .upToNextOption, help: "Stats files to merge and compute ranges from, instead of running the model.")
    var loadStats: [String] = []

    @Option(help: "Calibrate only the samples i with i mod N = K (K/N, e.g. 0/4); merge the shards' --save-stats files with --load-stats.")
    var shard: String?

    @Option(help: "Threads for the engine and the statistics (default: all cores).")
    var threads: Int?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Flag(help: "Show progress on stderr even when it is not a terminal.")
    var progress = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1.") }
        if let shard, Shard(shard) == nil { throw ValidationError("--shard takes K/N with 0 ≤ K < N, e.g. 0/4.") }
        if !loadStats.isEmpty && !data.isEmpty {
            throw ValidationError("--load-stats computes ranges from saved statistics; give it without --calibration-data or --data-loader-script.")
        }
        if !loadStats.isEmpty && shard != nil { throw ValidationError("--shard applies to calibration data, not to --load-stats.") }
        if shard != nil && (outputs.calibrationCache != nil || outputs.rangesJson != nil) {
            throw ValidationError("A shard holds part of the statistics: save them with --save-stats and compute the cache or ranges after merging the shards with --load-stats.")
        }
        if shard != nil && outputs.saveStats == nil { throw ValidationError("--shard needs --save-stats: a shard's statistics are merged later.") }
        if data.isEmpty && loadStats.isEmpty && outputs.calibrationCache == nil {
            throw ValidationError("Give the data with --calibration-data PATH... or --data-loader-script SCRIPT, or statistics with --load-stats FILE....")
        }
    }

    func run() throws {
        if let threads { ThreadPool.threads = threads }
        let job = CalibrationJob(model: model, data: data, method: method, outputs: outputs, loadStats: loadStats,
                                 shard: shard.flatMap(Shard.init), progress: Progress(forced: progress))
        let result = try job.run()
        let summary = try job.writeOutputs(result)
        for note in result.notes { Console.note(note) }
        try Console.printResult(summary, json: json) { summary.text }
    }
}

/// Where calibration writes its results, shared by `calibrate` and `convert --int8`.
struct CalibrationOutputOptions: ParsableArguments {
    @Option(help: "TensorRT calibration cache: read when it exists and fits the model and method (calibration is then skipped), else written after calibration, with a FILE.json sidecar.")
    var calibrationCache: String?

    @Flag(help: "Calibrate even when --calibration-cache exists, and rewrite it.")
    var forceRecalibrate = false

    @Option(help: "The TensorRT version the cache is for (its header names it; TensorRT refuses a cache of another version).")
    var trtVersion: String = CalibrationCache.defaultTensorRTVersion

    @Option(help: "The algorithm the cache header names (trtexec --calib expects EntropyCalibration2).")
    var cacheAlgorithm: String = "EntropyCalibration2"

    @Option(help: "Write every tensor's histogram and counters to this stats file.")
    var saveStats: String?

    @Option(help: "Write the ranges as JSON: per tensor amax, scale, method, min, max and non-finite count.")
    var rangesJson: String?

    func validate() throws {
        _ = try header()
        if cacheAlgorithm.isEmpty || cacheAlgorithm.contains(where: { $0.isWhitespace || $0 == "-" }) {
            throw ValidationError("--cache-algorithm takes one word such as EntropyCalibration2 or MinMaxCalibration.")
        }
    }

    /// The cache header the options ask for.
    func header() throws -> String {
        do { return try CalibrationCache.header(tensorRTVersion: trtVersion, algorithm: cacheAlgorithm) } catch {
            throw ValidationError("--trt-version: \(error.localizedDescription)")
        }
    }
}
