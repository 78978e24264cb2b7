import ArgumentParser
import OctetQuant

/// The range method, as `--calibration-method` names it.
enum CalibrationMethod: String, CaseIterable, ExpressibleByArgument {
    case entropy, minmax, percentile, mse
}

/// Options choosing how ranges are picked from statistics, shared by the commands that do so.
struct CalibrationMethodOptions: ParsableArguments {
    @Option(help: "How each tensor's range is chosen from its histogram: entropy (KL divergence, as TensorRT's EntropyCalibrator2), minmax, percentile or mse.")
    var calibrationMethod: CalibrationMethod = .entropy

    @Option(help: "The percentile of |x| kept by --calibration-method percentile.")
    var percentile: Double = 99.99

    func validate() throws {
        if !(percentile > 0 && percentile <= 100) { throw ValidationError("--percentile must be above 0 and at most 100.") }
    }

    /// The algorithm the options name.
    var algorithm: RangeAlgorithm {
        switch calibrationMethod {
        case .entropy: .entropy
        case .minmax: .minmax
        case .percentile: .percentile(percentile)
        case .mse: .mse
        }
    }
}
