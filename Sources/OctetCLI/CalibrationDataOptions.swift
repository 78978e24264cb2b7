import ArgumentParser
import Foundation
import OctetGraph
import OctetData
import OctetQuant

/// Options that select and shape calibration data, shared by the commands that read it.
struct CalibrationDataOptions: ParsableArguments {
    @Option(name: .long, parsing: .upToNextOption,
            help: "Calibration data: .npz (samples stacked on axis 0), .npy, Polygraphy .json, or folders of per-sample .npz files, <input>.npy files or ONNX test_data_set_N folders.")
    var calibrationData: [String] = []

    @Option(name: .long, help: "A Python script yielding dicts {input name: array}, as script.py or script.py:function (default function: load_data).")
    var dataLoaderScript: [String] = []

    @Option(help: "Seconds a data loader script may take to yield its first sample, and each next one, before it is stopped.")
    var dataLoaderTimeout: Double = LoaderScriptSource.defaultTimeout

    @Option(help: "Samples per model run (only for a dynamic batch dimension; default: the model's fixed batch size, else 1).")
    var batchSize: Int?

    @Flag(help: "Accept NaN and infinite values in float inputs.")
    var allowNonfinite = false

    /// Whether any data was named.
    var isEmpty: Bool { calibrationData.isEmpty && dataLoaderScript.isEmpty }

    /// Throws unless data was named (for commands that cannot work without it).
    func requireData() throws {
        if isEmpty { throw ValidationError("Give the data with --calibration-data PATH... or --data-loader-script SCRIPT.") }
    }

    func validate() throws {
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1.") }
        guard dataLoaderTimeout > 0, dataLoaderTimeout.isFinite else { throw ValidationError("--data-loader-timeout must be a positive number of seconds.") }
    }

    /// Opens the data the options name.
    func open() throws -> CalibrationData {
        try CalibrationData(paths: calibrationData, loaderScripts: dataLoaderScript, loaderTimeout: dataLoaderTimeout)
    }
}

extension DataError: UserFacingError {}
