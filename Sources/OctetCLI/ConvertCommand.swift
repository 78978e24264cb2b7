import ArgumentParser
import Foundation
import OctetGraph
import OctetQuant

/// `octet convert`: load, validate and write a model.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Load, validate and save an ONNX model, moving weights to or from external data.",
        discussion: """
            The model is written atomically: a temporary file that is renamed once complete, so an \
            interrupted run leaves no half-written output. Weights are embedded unless the model \
            would pass protobuf's 2 GB limit, or --save-external-data is given.
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

    @Flag(help: "With --prepare: leave BatchNormalization nodes as they are.")
    var noFoldBatchNorm = false

    func validate() throws {
        if noFoldBatchNorm && !prepare { throw ValidationError("--no-fold-batch-norm goes with --prepare.") }
        if saveExternalData && noExternalData {
            throw ValidationError("--save-external-data and --no-external-data contradict each other; give one.")
        }
        if externalDataSizeThreshold < 0 { throw ValidationError("--external-data-size-threshold must be 0 or more.") }
    }

    func run() throws {
        let source = URL(fileURLWithPath: model)
        let destination = URL(fileURLWithPath: output)
        var loaded = try Model.load(contentsOf: source)
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
        let folder = source.deletingLastPathComponent()
        let inputFiles = [source] + ModelSummary(model: loaded, file: model).externalData.map {
            folder.appendingPathComponent($0.location)
        }
        try OutputPath.check(destination, notAnyOf: inputFiles)
        var options = SaveOptions(externalData: saveExternalData ? .always : noExternalData ? .never : .automatic,
                                  location: externalDataPath, sizeThreshold: externalDataSizeThreshold)
        let location = options.location ?? destination.lastPathComponent + ".data"
        options.location = location
        let dataFile = destination.deletingLastPathComponent().appendingPathComponent(location)
        if options.externalData != .never {
            try OutputPath.check(dataFile, notAnyOf: inputFiles)
        }
        let report = try loaded.save(to: destination, options: options)
        var line = "Wrote \(output) (\(formatBytes(report.modelBytes))"
        if let written = report.externalLocation {
            line += "; external data \(written): \(formatBytes(report.externalBytes))"
        }
        print(line + ")")
        if let preparation {
            let opset = "opset \(preparation.opset.from.map(String.init) ?? "?") → \(preparation.opset.to.map(String.init) ?? "?")"
            print("Prepared: \(opset), \(preparation.constantsMoved) Constant node\(preparation.constantsMoved == 1 ? "" : "s") to initializers, \(preparation.foldedConstants.count) node\(preparation.foldedConstants.count == 1 ? "" : "s") computed from constants folded, \(preparation.foldedBatchNorms.count) BatchNormalization folded into Conv")
        }
    }
}
