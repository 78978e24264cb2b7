import Foundation

/// What `octet calibrate` prints: where the ranges came from, what was observed, the tensors
/// whose values reach far past their range, and the files written.
struct CalibrationSummary: Codable {
    struct NonFinite: Codable {
        var name: String
        var values: Int64
    }

    struct Outlier: Codable {
        var name: String
        var absmax: Double
        var amax: Double
        var ratio: Double
    }

    var model: String
    var modelSHA256: String
    var method: String
    /// `calibration`, `stats files` or `cache`.
    var source = "calibration"
    var samples = 0
    var batchSize = 1
    var shards: [String] = []
    var seconds = 0.0
    /// Loading and hashing the model.
    var loadSeconds = 0.0
    /// Reading and checking the data, running the model and collecting statistics (overlapped).
    var runSeconds = 0.0
    var tensors = 0
    var nonFinite: [NonFinite] = []
    var peakMemoryBytes = 0
    var peakTensorBytes = 0
    var outliers: [Outlier] = []
    var cacheEntries = 0
    var wrote: [String] = []

    init(model: String, modelSHA256: String, method: String) {
        self.model = model
        self.modelSHA256 = modelSHA256
        self.method = method
    }

    var text: String {
        var lines: [String] = []
        let plural = { (count: Int, word: String) in "\(count) \(word)\(count == 1 ? "" : "s")" }
        switch source {
        case "cache":
            lines.append("Ranges for \(model) read from the calibration cache: \(plural(tensors, "tensor"))")
        case "stats files":
            let shardText = shards.isEmpty ? "" : " (shards \(shards.joined(separator: ", ")))"
            lines.append("Ranges for \(model) from merged statistics of \(plural(samples, "sample"))\(shardText): \(plural(tensors, "tensor")), \(method)")
        default:
            lines.append(String(format: "Calibrated %@ on %@ (%d per run) in %.1f s: %@ observed, %@",
                                model, plural(samples, "sample"), batchSize, seconds, plural(tensors, "tensor"), method))
            lines.append(String(format: "Time: %.1f s loading the model, %.1f s reading and checking the data while running the model and collecting statistics",
                                loadSeconds, runSeconds))
        }
        if !nonFinite.isEmpty {
            let list = nonFinite.prefix(5).map { "\($0.name) (\($0.values))" }.joined(separator: ", ")
            lines.append("Tensors with NaN/inf values (left out of their statistics): \(list)\(nonFinite.count > 5 ? ", … \(nonFinite.count - 5) more" : "")")
        }
        lines.append("Peak memory: \(formatBytes(peakMemoryBytes)) resident" + (peakTensorBytes > 0 ? ", \(formatBytes(peakTensorBytes)) of live tensors" : ""))
        if !outliers.isEmpty {
            lines.append("Tensors whose largest |x| lies furthest past the chosen range:")
            var rows = [["tensor", "max |x|", "amax", "max/amax"]]
            for outlier in outliers {
                rows.append([outlier.name, Self.number(outlier.absmax), Self.number(outlier.amax), String(format: "%.2f", outlier.ratio)])
            }
            let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                lines.append("  " + zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                    .trimmingCharacters(in: .whitespaces))
            }
        }
        for file in wrote { lines.append("Wrote \(file)") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func number(_ value: Double) -> String { String(format: "%.6g", value) }
}
