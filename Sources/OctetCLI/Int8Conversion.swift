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
        struct Node: Codable {
            var node: String
            var opType: String
            var quantized: Bool
            var reason: String?

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(node, forKey: .node)
                try container.encode(opType, forKey: .opType)
                try container.encode(quantized, forKey: .quantized)
                try container.encode(reason, forKey: .reason)
            }
        }

        var model: String
        var rangesFrom: String
        var nodes: [Node]
        var missingRanges: [String]
        var unusedCacheEntries: [String]
        var wrote: [String]
    }

    func run() throws {
        let job = CalibrationJob(model: command.model, data: command.data, method: command.method, outputs: command.calibration,
                                 loadStats: command.loadStats, shard: nil, progress: Progress(forced: command.progress))
        let source = try Model.load(contentsOf: URL(fileURLWithPath: command.model))
        let inputFiles = command.inputFiles(of: source)
        try OutputPath.check(URL(fileURLWithPath: command.output), notAnyOf: inputFiles)
        let result = try job.run()
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

        let missing = placement.decisions.compactMap { $0.skipped }.filter { $0.hasSuffix("has no calibrated range (not a float activation, or not observed)") }
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
            missingRanges: missing, unusedCacheEntries: unused, wrote: [])
        if command.dryRun {
            try Console.printResult(report, json: command.json) { Self.text(report, dryRun: true) }
            return
        }
        var editor = GraphEditor(prepared.graph)
        try QDQRewriter.apply(&editor, placement: placement, ranges: ranges)
        var quantized = prepared
        quantized.graph = editor.graph
        let problems = quantized.graph.validate(model: quantized)
        if !problems.isEmpty {
            throw CLIError.message("\(command.model): the Q/DQ model is not valid (please report this): \(problems.joined(separator: "; "))")
        }
        let line = try command.save(quantized, inputFiles: inputFiles, keepExternal: true)
        let summary = try job.writeOutputs(result)
        report.wrote = [command.output] + summary.wrote
        if command.json {
            try Console.printResult(report, json: true) { "" }
        } else {
            print(line)
            print(Self.text(report, dryRun: false), terminator: "")
        }
    }

    static func text(_ report: Report, dryRun: Bool) -> String {
        let quantized = report.nodes.filter(\.quantized)
        var lines = ["\(dryRun ? "Would quantize" : "Quantized") \(quantized.count) of \(report.nodes.count) candidate nodes (ranges from \(report.rangesFrom))"]
        for node in report.nodes {
            lines.append("  \(node.quantized ? "INT8 " : "float") \(node.node)\(node.reason.map { ": \($0)" } ?? "")")
        }
        for file in report.wrote.dropFirst() { lines.append("Wrote \(file)") }
        return lines.joined(separator: "\n") + "\n"
    }
}
