import ArgumentParser
import Foundation
import OctetGraph
import OctetData
import OctetQuant
import OctetRuntime

/// `octet data check`: validate calibration data against a model before calibrating.
struct DataCheckCommand: ParsableCommand {
    /// Reading stops after this many samples that do not fit (a file of 10^12 empty rows would
    /// otherwise be read row by row).
    static let rejectedSamplesShown = 1_000

    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check calibration data against a model's inputs and run one batch through it.",
        discussion: """
            Every sample is read once, in a stream, and matched to the model's inputs by name. \
            All problems are reported together: missing or unknown inputs, types that cannot be \
            widened without loss, rank and fixed-dimension mismatches, inputs with different \
            sample counts, empty data and NaN/Inf values. If the data fits, the first batch is \
            run through the model (a dry run). The exit status is 1 on any problem.
            """
    )

    @Argument(help: "The ONNX model the data is for.")
    var model: String

    @OptionGroup var data: CalibrationDataOptions

    @Flag(help: "Print a JSON document instead of text.")
    var json = false

    @Flag(help: "Show progress on stderr even when it is not a terminal.")
    var progress = false

    /// The report, also printed as JSON.
    struct Report: Codable {
        struct Source: Codable {
            var format: String
            var paths: [String]
            var samples: Int?
        }

        struct DryRun: Codable {
            var ran: Bool
            var samples: Int
            @EncodedAsNull var error: String?
        }

        var model: String
        var sources: [Source]
        var samples: Int
        var batchSize: Int
        var inputs: [InputStatistics]
        var warnings: [String]
        var problems: [String]
        var dryRun: DryRun
    }

    func validate() throws { try data.requireData() }

    func run() throws {
        let loaded = try Model.load(contentsOf: URL(fileURLWithPath: model))
        let calibration = try data.open()
        var validator = FeedValidator(model: loaded, allowNonfinite: data.allowNonfinite)
        calibration.sources.forEach { validator.checkRowCounts($0) }
        var problems: [String] = []
        var batchSize = 1
        do { batchSize = try RunBatcher.batchSize(for: loaded, requested: data.batchSize) } catch let error as DataError {
            if case .invalid(let list) = error { problems += list }
        }
        // Every valid sample goes through the batcher, so shape clashes inside any run are found;
        // the first complete run is kept for the dry run.
        var batcher = RunBatcher(batchSize: batchSize)
        var firstRun: [String: Tensor]?
        var batchingProblems: [String] = []
        var batchedSamples = 0
        var rejected = 0
        var stoppedEarly: Int?
        func collect(_ run: [String: Tensor]?) {
            if firstRun == nil, let run { firstRun = run }
        }
        let display = Progress(forced: progress)
        let total = calibration.sampleCount.map { " of \($0)" } ?? ""
        try calibration.forEach { sample in
            display.update("checking sample \(sample.index + 1)\(total)")
            guard let feeds = validator.check(sample) else {
                rejected += 1
                if rejected == Self.rejectedSamplesShown { stoppedEarly = sample.index + 1 }
                return rejected < Self.rejectedSamplesShown
            }
            batchedSamples += 1
            do { collect(try batcher.add(feeds, index: sample.index)) } catch DataError.invalid(let list) {
                if batchingProblems.count < 3 { batchingProblems += list }
            }
            return true
        }
        display.finish()
        do { collect(try batcher.flush()) } catch DataError.invalid(let list) { batchingProblems += list }
        if batchSize > 1, batchedSamples % batchSize != 0 {
            Console.warning("\(batchedSamples) samples do not fill runs of \(batchSize): the last run holds \(batchedSamples % batchSize)")
        }
        problems += batchingProblems
        if let stoppedEarly {
            problems.append("stopped reading after sample \(stoppedEarly - 1): \(Self.rejectedSamplesShown) samples do not fit; fix those first")
        }
        let firstRunSamples = firstRun?.values.first.map { $0.shape.first ?? 1 } ?? 0
        if validator.sampleCount == 0 { validator.noSamples(in: calibration) }
        problems = validator.problems + problems
        var dryRun = Report.DryRun(ran: false, samples: 0, error: nil)
        if problems.isEmpty, let feeds = firstRun {
            do {
                let session = try Session(model: loaded)
                _ = try session.run(feeds)
                dryRun = Report.DryRun(ran: true, samples: firstRunSamples, error: nil)
            } catch {
                dryRun = Report.DryRun(ran: true, samples: firstRunSamples, error: error.localizedDescription)
                problems.append("dry run on the first \(firstRunSamples == 1 ? "sample" : "\(firstRunSamples) samples") failed: \(error.localizedDescription)")
            }
        }
        let report = Report(
            model: model,
            sources: calibration.sources.map { Report.Source(format: $0.format, paths: $0.paths, samples: $0.sampleCount) },
            samples: validator.sampleCount, batchSize: batchSize, inputs: validator.statistics, warnings: validator.warnings,
            problems: problems, dryRun: dryRun)
        for warning in report.warnings { Console.warning(warning) }
        try Console.printResult(report, json: json) { Self.text(report) }
        if !problems.isEmpty { throw DataError.invalid(problems: problems) }
    }

    static func text(_ report: Report) -> String {
        var lines = ["Calibration data for \(report.model): \(report.samples) sample\(report.samples == 1 ? "" : "s"), \(report.batchSize) per run"]
        for source in report.sources {
            lines.append("  \(source.paths.joined(separator: ", ")): \(source.format)")
        }
        let header = ["input", "data", "model", "shape", "values", "samples", "non-finite", "fits"]
        var rows = [header]
        for input in report.inputs {
            let values = input.minimum.map { low in "\(Self.number(low)) … \(Self.number(input.maximum ?? low))" } ?? "-"
            rows.append([input.name, input.dtypes.isEmpty ? "-" : input.dtypes.joined(separator: ","), input.modelDtype,
                         input.shapeRange.isEmpty ? "-" : input.shapeText, values, "\(input.samples)", "\(input.nonFinite)",
                         input.matches ? "yes" : "NO"])
        }
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces))
        }
        if report.dryRun.ran {
            lines.append("Dry run: \(report.dryRun.error == nil ? "ok" : "FAILED"), \(report.dryRun.samples) sample\(report.dryRun.samples == 1 ? "" : "s") through the model")
        } else {
            lines.append("Dry run: not run (the data does not fit the model)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.6g", value)
    }
}
