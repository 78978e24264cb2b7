import Foundation
import OctetData
import OctetGraph
import OctetQuant
import OctetRuntime

/// `octet convert --int8`: ranges (calibration, stats files or a TensorRT cache), preparation,
/// Q/DQ placement and rewrite, and the files written from the same run.
struct Int8Conversion {
    let command: ConvertCommand

    /// The `--dry-run` / `--json` report.
    struct Report: Codable {
        struct Node: Codable, Sendable, Equatable {
            var node: String
            var opType: String
            var quantized: Bool
            @EncodedAsNull var reason: String?
        }

        struct Evaluation: Codable, Sendable, Equatable {
            var on: String
            var samples: Int
            var minCosine: Double
            var minTop1: Double
            var outputs: [AccuracyEvaluator.OutputReport]
            @EncodedAsNull var taskAccuracy: AccuracyEvaluator.TaskAccuracy?
            @EncodedAsNull var maxAccuracyDrop: Double?
            var keptAccuracy: Bool
            /// Per quantized node, most damaged first (as `octet compare` reports them).
            var nodes: [LayerErrorAnalyzer.NodeReport] = []
            /// Per quantized node, its error when quantized alone (the cheap sensitivity pass), most damaged first.
            var isolatedNodes: [LayerErrorAnalyzer.NodeReport] = []
            /// Multiply-accumulates of the candidate nodes and the share in INT8.
            @EncodedAsNull var macs: MACCount?
            /// The `--target-metric` script's score of both models.
            @EncodedAsNull var metric: MetricScore? = nil
        }

        /// A user metric (`--target-metric script.py`), higher is better.
        struct MetricScore: Codable, Sendable, Equatable {
            var script: String
            var fp32: Double
            var int8: Double
            /// fp32 − int8, in the score's units.
            var drop: Double { fp32 - int8 }

            enum CodingKeys: String, CodingKey { case script, fp32, int8, drop }

            init(script: String, fp32: Double, int8: Double) {
                (self.script, self.fp32, self.int8) = (script, fp32, int8)
            }

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                script = try container.decode(String.self, forKey: .script)
                fp32 = try container.decode(Double.self, forKey: .fp32)
                int8 = try container.decode(Double.self, forKey: .int8)
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(script, forKey: .script)
                try container.encode(fp32, forKey: .fp32)
                try container.encode(int8, forKey: .int8)
                try container.encode(drop, forKey: .drop)
            }
        }

        var model: String
        var rangesFrom: String
        var nodes: [Node]
        var missingRanges: [String]
        var unusedCacheEntries: [String]
        @EncodedAsNull var evaluation: Evaluation?
        /// The steps of `--target-cosine` that the written model keeps: each range changed or node
        /// returned to FP32, and the accuracy after it.
        var fallback: [AccuracyFallback.Step] = []
        var wrote: [String]
        var ranges: [TensorRange]
    }

    /// Every ⌈1/fraction⌉-th sample (the last of each group) is held out for evaluation.
    var heldOut: Shard? {
        guard command.int8, command.evalData.isEmpty, !command.data.isEmpty, command.evalFraction > 0 else { return nil }
        let every = max(2, Int((1 / command.evalFraction).rounded(.up)))
        return Shard("\(every - 1)/\(every)")
    }

    func run() throws {
        var job = CalibrationJob(model: command.model, data: command.data, method: command.method, outputs: command.calibration,
                                 loadStats: command.loadStats, shard: nil, progress: Progress(forced: command.progress))
        job.heldOut = heldOut
        let source = try Model.load(contentsOf: URL(fileURLWithPath: command.model))
        let inputFiles = command.inputFiles(of: source)
        try OutputPath.check(URL(fileURLWithPath: command.output), notAnyOf: inputFiles)
        let labels = try command.evalLabels.map(Self.readLabels)
        var result = try job.run(preloaded: source)
        for note in result.notes { Console.note(note) }

        let prepared: Model
        do { prepared = try ModelPreparation.prepare(source, foldBatchNorm: !command.noFoldBatchNorm).model } catch let error as OpsetUpgrade.UpgradeError {
            throw CLIError.message("\(command.model): \(error.localizedDescription)")
        }
        let ranges = Dictionary(result.ranges.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var policy = PlacementPolicy.tensorRT
        if !command.opTypes.isEmpty { policy.operators = Set(command.opTypes) }
        policy.operators.subtract(command.excludeOpTypes)
        policy.excludedNodes = command.excludeNodes
        let placement = Placement.place(in: prepared.graph, ranges: ranges, policy: policy)

        let missing = placement.decisions.filter { $0.missingRange != nil }.compactMap(\.skipped)
        let known = Set(prepared.graph.productionOrder).union(source.graph.productionOrder)
        let unused = result.fromCache ? result.ranges.map(\.name).filter { !known.contains($0) } : []
        if !missing.isEmpty {
            let list = missing.map { "  - \($0)" }.joined(separator: "\n")
            if command.strict { throw CLIError.message("\(command.model): tensors the placement needs have no range:\n\(list)") }
            Console.warning("\(missing.count) node\(missing.count == 1 ? "" : "s") left in float for lack of a range:\n\(list)")
        }
        if !unused.isEmpty {
            Console.note("\(unused.count) cache entr\(unused.count == 1 ? "y names no tensor" : "ies name no tensor") of the model: \(unused.prefix(10).joined(separator: ", "))\(unused.count > 10 ? ", …" : "")")
        }
        var report = Report(
            model: command.model, rangesFrom: result.summary.source,
            nodes: placement.decisions.map { Report.Node(node: $0.node, opType: $0.opType, quantized: $0.skipped == nil, reason: $0.skipped) },
            missingRanges: missing, unusedCacheEntries: unused, evaluation: nil, wrote: [], ranges: result.ranges)
        if command.dryRun {
            try Console.printResult(report, json: command.json) { Self.text(report, dryRun: true) }
            return
        }
        var quantized = try rewrite(prepared, placement: placement, ranges: ranges)
        report.evaluation = try evaluate(reference: source, quantized: quantized, labels: labels, prepared: prepared)

        let goal = AccuracyFallback.Goal(cosine: command.targetCosine, maxDrop: command.targetMetric == nil ? nil : command.maxAccuracyDrop)
        if goal.isSet, let evaluation = report.evaluation {
            var search = AccuracyFallback(conversion: self, source: source, prepared: prepared, policy: policy, labels: labels,
                                          inputFiles: inputFiles, statistics: result.statistics)
            search.smoothAlpha = command.smoothAlpha
            let fallback = try search.run(goal, start: (quantized, evaluation), ranges: ranges)
            (quantized, report.evaluation, report.fallback) = (fallback.model, fallback.evaluation, fallback.steps)
            // Changed ranges replace their originals; smoothed activations are new tensors.
            let known = Set(result.ranges.map(\.name))
            result.ranges = result.ranges.map { fallback.ranges[$0.name] ?? $0 }
                + fallback.ranges.values.filter { !known.contains($0.name) }.sorted { $0.name < $1.name }
            report.ranges = result.ranges
            let returned = fallback.steps.filter { $0.action == .fp32 }.map { "'\($0.node)' " }
            for index in report.nodes.indices where returned.contains(where: report.nodes[index].node.hasPrefix) {
                report.nodes[index].quantized = false
                report.nodes[index].reason = "returned to FP32 by \(goal.option)"
            }
        } else if goal.isSet {
            Console.warning("\(goal.option) needs evaluation samples (--eval-data, or calibration data to hold out): nothing was returned to FP32")
        }
        for destination in command.report {
            try OutputPath.check(URL(fileURLWithPath: destination), notAnyOf: inputFiles)
        }
        let line = try command.save(quantized, inputFiles: inputFiles, keepExternal: true)
        let summary = try job.writeOutputs(result)
        report.wrote = [command.output] + summary.wrote + command.report
        for destination in command.report {
            let contents: Data
            if Self.isHTML(destination) {
                contents = Data(htmlReport(report, quantized: quantized, result: result).html().utf8)
            } else {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                contents = try encoder.encode(report) + Data("\n".utf8)
            }
            try AtomicFile.write(contents, to: URL(fileURLWithPath: destination))
        }
        if command.json {
            try Console.printResult(report, json: true) { "" }
        } else {
            print(line)
            print(Self.text(report, dryRun: false, cache: command.calibration.calibrationCache), terminator: "")
        }
    }

    /// The FP32 model's score under a `--target-metric` script, computed once per run.
    final class MetricCache: @unchecked Sendable {
        var fp32: Double?
    }

    let metricCache = MetricCache()

    /// The scoring script of `--target-metric`, if it names one.
    var scoringScript: ScoringScript? {
        get throws {
            guard let metric = command.targetMetric, ScoringScript.isScript(metric) else { return nil }
            do { return try ScoringScript(specification: metric) } catch let failure as ScoringScript.Failure {
                throw CLIError.message(failure.localizedDescription)
            }
        }
    }

    /// Samples of the isolated sensitivity pass.
    static let isolatedSamples = 8

    /// Whether `--report` names an HTML page (else it is JSON).
    static func isHTML(_ path: String) -> Bool {
        ["html", "htm"].contains(URL(fileURLWithPath: path).pathExtension.lowercased())
    }

    /// The HTML page of a report: histograms of the activations the written model quantizes.
    func htmlReport(_ report: Report, quantized: Model, result: CalibrationJob.Result) -> HTMLReport {
        let constants = Set(quantized.graph.initializers.map(\.name))
        var seen = Set<String>()
        let activations = quantized.graph.nodes.filter { $0.opType == "QuantizeLinear" }.compactMap(\.inputs.first)
            .filter { !constants.contains($0) && seen.insert($0).inserted }
        let ranges = Dictionary(report.ranges.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        guard let statistics = result.statistics else {
            return HTMLReport(report: report, tensors: [], histogramNote: "The ranges came from \(report.rangesFrom): there are no histograms to show.")
        }
        let views = HTMLReport.views(of: activations, statistics: statistics, ranges: ranges, percentile: command.method.percentile)
        return HTMLReport(report: report, tensors: views, histogramNote: nil)
    }

    /// The Q/DQ model for a placement.
    func rewrite(_ prepared: Model, placement: Placement, ranges: [String: TensorRange]) throws -> Model {
        var editor = GraphEditor(prepared.graph)
        do { try QDQRewriter.apply(&editor, placement: placement, ranges: ranges, weightsInt8: command.weightsInt8) } catch let error as QDQRewriter.RewriteError {
            throw CLIError.message("\(command.model): \(error.localizedDescription)")
        }
        var quantized = prepared
        quantized.graph = editor.graph
        let problems = quantized.graph.validate(model: quantized)
        if !problems.isEmpty {
            throw CLIError.message("\(command.model): the Q/DQ model is not valid (please report this): \(problems.joined(separator: "; "))")
        }
        return quantized
    }

    /// FP32 against INT8 on the eval data or the held-out samples (nil, with a note, when there are none).
    /// - Parameters:
    ///   - labels: true classes of the evaluation rows (`--eval-labels`), if given.
    ///   - perNode: also rank the quantized nodes by damage (a second pass over the samples).
    ///   - prepared: the prepared FP32 model, for the isolated pass (each node quantized alone, on
    ///     the first ``isolatedSamples`` samples).
    func evaluate(reference: Model, quantized: Model, labels: [Int]?, perNode: Bool = true, prepared: Model? = nil) throws -> Report.Evaluation? {
        let source: String
        let data: CalibrationData
        let keep: (Int) -> Bool
        if !command.evalData.isEmpty {
            data = try CalibrationData(paths: command.evalData)
            source = "--eval-data"
            keep = { _ in true }
        } else if let heldOut, !command.data.isEmpty {
            data = try command.data.open()
            source = "every \(heldOut.count)th calibration sample, held out of calibration"
            keep = heldOut.contains
        } else {
            Console.note("no evaluation: give --eval-data to compare FP32 and INT8\(command.evalFraction == 0 ? "" : " (the ranges did not come from calibration data)")")
            return nil
        }
        let evaluator = try AccuracyEvaluator(reference: reference, quantized: quantized)
        let result: AccuracyEvaluator.Evaluation
        // A scoring script gets each model's outputs as one .npz per sample in a temporary folder.
        let scorer = try scoringScript
        let folders = try scorer.map { _ in try (fp32: Self.temporaryFolder(), int8: Self.temporaryFolder()) }
        defer { for folder in [folders?.fp32, folders?.int8].compactMap({ $0 }) { TemporaryPaths.remove(folder) } }
        let needFP32 = metricCache.fp32 == nil
        var written = 0
        let sink: (([String: Tensor], [String: Tensor]) throws -> Void)? = folders.map { folders in { fp32, int8 in
            let name = String(format: "sample_%06d.npz", written)
            let order = reference.graph.outputs.map(\.name)
            if needFP32 { try NPZArchive.write(order.compactMap { key in fp32[key].map { (key, $0) } }, to: folders.fp32.appendingPathComponent(name)) }
            try NPZArchive.write(order.compactMap { key in int8[key].map { (key, $0) } }, to: folders.int8.appendingPathComponent(name))
            written += 1
        } }
        do { result = try evaluator.evaluate(data, model: reference, labels: labels, keep: keep, outputs: sink) } catch let error as AccuracyEvaluator.LabelError {
            throw CLIError.message("\(command.evalLabels ?? "--eval-labels"): \(error.localizedDescription)")
        }
        var metric: Report.MetricScore?
        if let scorer, let folders, result.samples > 0 {
            do {
                let timeout = command.targetMetricTimeout
                if needFP32 { metricCache.fp32 = try scorer.score(folder: folders.fp32, timeout: timeout) }
                metric = Report.MetricScore(script: command.targetMetric ?? scorer.script.path, fp32: metricCache.fp32 ?? 0,
                                            int8: try scorer.score(folder: folders.int8, timeout: timeout))
            } catch let failure as ScoringScript.Failure {
                throw CLIError.message(failure.localizedDescription)
            }
        }
        let (outputs, samples) = (result.outputs, result.samples)
        guard samples > 0 else {
            Console.note("no evaluation: no sample was held out (fewer than \(heldOut?.count ?? 0) samples); give --eval-data")
            return nil
        }
        // With labels the task metric decides (top-1 agreement is shown, not judged); without, agreement does.
        let comparison = perNode ? try LayerErrorAnalyzer(reference: reference, quantized: quantized).compare(data, model: reference, keep: keep) : nil
        var isolated: [LayerErrorAnalyzer.NodeReport]?
        if let prepared {
            // The cheap pass only ranks; a model it cannot build or run is reported, not fatal.
            do {
                isolated = try IsolatedNodeErrors(reference: prepared, quantized: quantized)
                    .measure(data, model: reference, samples: Self.isolatedSamples, keep: keep)
            } catch let error as RuntimeError {
                Console.note("the isolated sensitivity pass did not run (\(error.localizedDescription)); nodes are ranked by their error in the INT8 model")
            }
        }
        let kept = outputs.allSatisfy { $0.meanCosine >= command.minCosine && (result.task != nil || metric != nil || ($0.top1Agreement ?? 1) >= command.minTop1) }
            && (result.task.map { $0.dropPoints <= command.maxAccuracyDrop } ?? true) && (metric.map { $0.drop <= command.maxAccuracyDrop } ?? true)
        return Report.Evaluation(on: source, samples: samples, minCosine: command.minCosine, minTop1: command.minTop1,
                                 outputs: outputs, taskAccuracy: result.task, maxAccuracyDrop: result.task == nil && metric == nil ? nil : command.maxAccuracyDrop,
                                 keptAccuracy: kept, nodes: comparison?.nodes ?? [], isolatedNodes: isolated ?? [], macs: comparison?.macs, metric: metric)
    }

    /// A new folder under the temporary directory, removed on exit or interruption.
    static func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("octet-metric-\(UUID().uuidString)")
        TemporaryPaths.register(folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        return folder
    }

    /// Integer class labels from a `.npy` file (any integer dtype, any shape; read flat).
    static func readLabels(_ path: String) throws -> [Int] {
        let tensor = try NPYFile.read(URL(fileURLWithPath: path))
        guard tensor.dtype.isInteger else {
            throw CLIError.message("\(path): labels must be integers (class indexes), not \(tensor.dtype)")
        }
        // Values past Int (only from uint64 or 2^63 itself) become Int.max: out of range for any model.
        return try tensor.doubles().map { Int(exactly: $0) ?? Int.max }
    }

    /// One output's metrics as table cells (see ``TextTable/outputHeader``).
    static func cells(_ output: AccuracyEvaluator.OutputReport) -> [String] {
        [output.name, String(format: "%.5f", output.meanCosine), String(format: "%.5f", output.minCosine), TextTable.decibels(output.sqnr),
         String(format: "%.4g", output.maxAbsError), output.top1Agreement.map { String(format: "%.1f %%", $0 * 100) } ?? "-"]
    }

    /// - Parameter cache: the calibration cache the run wrote, if any (it holds ranges the fallback changed).
    static func text(_ report: Report, dryRun: Bool, cache: String? = nil) -> String {
        let quantized = report.nodes.filter(\.quantized)
        var lines = ["\(dryRun ? "Would quantize" : "Quantized") \(quantized.count) of \(report.nodes.count) candidate nodes (ranges from \(report.rangesFrom))"]
        for node in report.nodes {
            lines.append("  \(node.quantized ? "INT8 " : "float") \(node.node)\(node.reason.map { ": \($0)" } ?? "")")
        }
        if let evaluation = report.evaluation {
            lines.append("Accuracy, FP32 vs INT8 on \(evaluation.samples) sample\(evaluation.samples == 1 ? "" : "s") (\(evaluation.on)):")
            lines += TextTable.lines([TextTable.outputHeader] + evaluation.outputs.map(Self.cells))
            let thresholds: String
            if let task = evaluation.taskAccuracy, let drop = evaluation.maxAccuracyDrop {
                lines.append(String(format: "Task accuracy on %d labelled rows of '%@': FP32 %.2f %%, INT8 %.2f %% (%@%.2f points)", task.rows, task.output,
                                    task.fp32 * 100, task.int8 * 100, task.dropPoints > 0 ? "−" : "+", abs(task.dropPoints)))
                thresholds = String(format: "every output's mean cosine ≥ %g, task accuracy within %g point%@ of FP32", evaluation.minCosine, drop, drop == 1 ? "" : "s")
            } else if evaluation.metric == nil {
                thresholds = String(format: "every output's mean cosine ≥ %g, top-1 agreement ≥ %.1f %%", evaluation.minCosine, evaluation.minTop1 * 100)
            } else {
                thresholds = String(format: "every output's mean cosine ≥ %g", evaluation.minCosine)
            }
            var conditions = thresholds  // extended below by a metric's allowance
            if let metric = evaluation.metric {
                let drop = evaluation.maxAccuracyDrop ?? 0
                lines.append(String(format: "Task metric of %@: FP32 %.6g, INT8 %.6g (drop %.4g)", metric.script, metric.fp32, metric.int8, metric.drop))
                conditions += String(format: ", metric within %g of FP32", drop)
            }
            if let last = report.fallback.last {
                lines.append("Steps to the target: " + report.fallback.map { String(format: "%@ (then %.5f)", $0.summary, $0.cosine) }.joined(separator: ", "))
                if !last.excludeNodes.isEmpty {
                    lines.append("  to repeat without searching: --exclude-nodes " + last.excludeNodes.map { "'\($0)'" }.joined(separator: " "))
                }
                if report.fallback.contains(where: { $0.action == .smooth }) {
                    lines.append("  smoothed nodes are part of the model written; --exclude-nodes alone does not repeat them")
                }
                if report.fallback.contains(where: { $0.action == .range }) {
                    lines.append(cache.map { "  the changed ranges are in \($0): give it as --calibration-cache to reuse them" }
                                 ?? "  the changed ranges are in the report's ranges; add --calibration-cache F to keep them for reuse")
                }
            }
            if let macs = evaluation.macs { lines.append(TextTable.macLine(macs)) }
            let worst = evaluation.nodes.prefix(5)
            if !worst.isEmpty {
                let alone = Dictionary(evaluation.isolatedNodes.map { ($0.node, $0.sqnr) }, uniquingKeysWith: { first, _ in first })
                lines.append("Most damaged quantized nodes (lowest SQNR of their output; alone: the node quantized by itself; `octet compare` lists all):")
                lines += TextTable.lines([["node", "op", "SQNR dB", "alone dB", "cosine mean"]] + worst.map {
                    [$0.node, $0.opType, TextTable.decibels($0.sqnr), alone[$0.node].map(TextTable.decibels) ?? "-", String(format: "%.5f", $0.meanCosine)]
                })
            }
            lines.append(evaluation.keptAccuracy
                ? "INT8 kept accuracy (\(conditions))"
                : "INT8 did NOT keep accuracy (thresholds: \(conditions)): see the outputs above; --exclude-nodes keeps sensitive layers in float")
        }
        for file in report.wrote.dropFirst() { lines.append("Wrote \(file)") }
        return lines.joined(separator: "\n") + "\n"
    }
}
