import ArgumentParser
import Foundation
import OctetGraph
import OctetRuntime

/// `octet inspect`: what a model contains.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe an ONNX model: opsets, inputs, outputs, operators, weights and external data.",
        discussion: """
            The model is loaded and validated exactly as the other commands load it, so a model \
            that inspects cleanly will also load for calibration. With --json the same facts are \
            printed as one JSON document whose keys are documented in the README.
            """
    )

    @Argument(help: "The ONNX model file to describe (not needed with --list-operators).")
    var model: String?

    @Flag(help: "Print a JSON document instead of text.")
    var json = false

    @Flag(help: "List the operators Octet's engine runs, and how many of the standard ONNX domain's it covers.")
    var listOperators = false

    func validate() throws {
        if model == nil && !listOperators { throw ValidationError("give a model file, or --list-operators") }
    }

    /// The engine's operator set: every registered (domain, op type), and its coverage of the
    /// standard domain as the pinned onnx release defines it.
    struct OperatorList: Encodable {
        struct Coverage: Encodable {
            let onnxVersion: String
            let opset: Int64
            let supported: Int
            let total: Int
            let missing: [Missing]
        }
        struct Missing: Encodable {
            let opType: String
            let reason: String
        }
        struct Entry: Encodable {
            let domain: String
            let opType: String
        }
        let standardDomain: Coverage
        let operators: [Entry]

        init(registry: OpRegistry = .standard) {
            operators = registry.operators.map { key in
                let parts = key.components(separatedBy: "::")
                return Entry(domain: parts.first ?? "", opType: parts.last ?? key)
            }
            let standard = Set(operators.filter { $0.domain.isEmpty }.map(\.opType))
            let missing = StandardOperators.names.filter { !standard.contains($0) }
            standardDomain = Coverage(onnxVersion: StandardOperators.onnxVersion, opset: StandardOperators.opset,
                                      supported: StandardOperators.names.count - missing.count, total: StandardOperators.names.count,
                                      missing: missing.map { Missing(opType: $0, reason: StandardOperators.excluded[$0] ?? "not implemented yet") })
        }

        var text: String {
            var lines = ["Octet's engine runs \(standardDomain.supported) of the \(standardDomain.total) operators of the standard ONNX domain "
                + "(onnx \(standardDomain.onnxVersion), opset \(standardDomain.opset))."]
            for entry in standardDomain.missing { lines.append("Not supported: \(entry.opType) (\(entry.reason))") }
            let byDomain = Dictionary(grouping: operators, by: \.domain)
            for domain in byDomain.keys.sorted() {
                let names = byDomain[domain, default: []].map(\.opType)
                lines.append("\(domain.isEmpty ? "ai.onnx" : domain) (\(names.count)):")
                var line = " "
                for name in names {
                    if line.count + name.count + 1 > 100 {
                        lines.append(line)
                        line = " "
                    }
                    line += " " + name
                }
                if line.count > 1 { lines.append(line) }
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// The summary plus what Octet's engine cannot run; in JSON, the summary's keys and
    /// `unsupportedOperators`.
    struct Report: Encodable {
        let summary: ModelSummary
        let unsupported: [UnsupportedOperator]

        enum Keys: String, CodingKey { case unsupportedOperators }

        func encode(to encoder: any Encoder) throws {
            try summary.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(unsupported, forKey: .unsupportedOperators)
        }
    }

    func run() throws {
        guard let model, !listOperators else {
            let list = OperatorList()
            return try Console.printResult(list, json: json) { list.text }
        }
        let url = URL(fileURLWithPath: model)
        let loaded = try Model.load(contentsOf: url)
        let report = Report(summary: ModelSummary(model: loaded, file: model), unsupported: Session.unsupportedOperators(in: loaded))
        try Console.printResult(report, json: json) { Self.text(report.summary) + Self.engineText(report) }
    }

    /// Whether the engine can run the model, and if not which operators stop it.
    static func engineText(_ report: Report) -> String {
        let types = report.summary.nodes.byOpType.count
        guard !report.unsupported.isEmpty else { return "Engine: all \(types) operator types are supported\n" }
        var lines = ["Engine: cannot run \(report.unsupported.count) of \(types) operator types:"]
        for entry in report.unsupported {
            let domain = entry.domain.isEmpty ? "ai.onnx" : entry.domain
            let more = entry.nodes.count > 3 ? " and \(entry.nodes.count - 3) more" : ""
            lines.append("  \(entry.opType) (\(domain), opset \(entry.opset)): \(entry.nodes.prefix(3).joined(separator: ", "))\(more)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The text report.
    static func text(_ summary: ModelSummary) -> String {
        var lines: [String] = []
        lines.append("Model: \(summary.file)")
        let producer = [summary.producerName, summary.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        lines.append("  IR version: \(summary.irVersion)")
        lines.append("  Producer:   \(producer.isEmpty ? "(not set)" : producer)")
        let opsets = summary.opsets.map { "\($0.domain.isEmpty ? "ai.onnx" : $0.domain) \($0.version)" }
        lines.append("  Opsets:     \(opsets.isEmpty ? "(none)" : opsets.joined(separator: ", "))")
        for (title, values) in [("Inputs", summary.inputs), ("Outputs", summary.outputs)] {
            lines.append("\(title) (\(values.count)):")
            let width = values.map(\.name.count).max() ?? 0
            for value in values {
                let padded = value.name.padding(toLength: max(width, value.name.count), withPad: " ", startingAt: 0)
                lines.append("  \(padded)  \(value.dtype)\(shapeText(value.shape))")
            }
        }
        let nodes = summary.nodes
        var header = "Nodes: \(nodes.total)"
        if nodes.subgraphs > 0 {
            header += " (\(nodes.topLevel) in the main graph, \(nodes.inSubgraphs) in \(nodes.subgraphs) subgraph\(nodes.subgraphs == 1 ? "" : "s"))"
        }
        lines.append(header)
        let ops = nodes.byOpType.sorted {
            let left = $0.value.topLevel + $0.value.inSubgraphs
            let right = $1.value.topLevel + $1.value.inSubgraphs
            return left != right ? left > right : $0.key < $1.key
        }
        for (op, count) in ops {
            let inner = count.inSubgraphs > 0 ? " (\(count.inSubgraphs) in subgraphs)" : ""
            lines.append("  \(op): \(count.topLevel + count.inSubgraphs)\(inner)")
        }
        lines.append("Weights:")
        lines.append("  initializers:   \(summary.initializers.count) (\(formatBytes(summary.initializers.bytes)))")
        lines.append("  Constant nodes: \(summary.constantNodes.count) (\(formatBytes(summary.constantNodes.bytes)))")
        if summary.externalData.isEmpty {
            lines.append("External data: none")
        } else {
            lines.append("External data:")
            for file in summary.externalData {
                lines.append("  \(file.location): \(file.tensors) tensor\(file.tensors == 1 ? "" : "s"), \(formatBytes(file.bytes))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func shapeText(_ shape: [Dim]?) -> String {
        guard let shape else { return " (rank unknown)" }
        return "[\(shape.map(\.description).joined(separator: ", "))]"
    }
}
