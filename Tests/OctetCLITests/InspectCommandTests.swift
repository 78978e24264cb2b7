import Foundation
import Testing
import _OctetTestSupport
import OctetGraph

/// `octet inspect` as a user runs it, on the bundled example.
struct InspectCommandTests {
    static let example = OctetProcess.repositoryRoot.appendingPathComponent("Examples/mini-encoder/model.onnx").path

    @Test func textReport() throws {
        let result = try OctetProcess.run(["inspect", Self.example])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("  Opsets:     ai.onnx 17"))
        #expect(lines.contains("Inputs (3):"))
        #expect(lines.contains("  input_ids       int64[batch, sequence]"))
        #expect(lines.contains("  attention_mask  int64[batch, sequence]"))
        #expect(lines.contains("  last_hidden_state  float32[batch, sequence, 16]"))
        #expect(lines.contains("Nodes: 43"))
        #expect(lines.contains("  Where: 1"))
        #expect(lines.contains("External data: none"))
    }

    @Test func jsonReportMatchesTheModel() throws {
        let result = try OctetProcess.run(["inspect", Self.example, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try JSONDecoder().decode(ModelSummary.self, from: Data(result.stdout.utf8))
        let model = try Model.load(contentsOf: URL(fileURLWithPath: Self.example))
        #expect(summary.inputs.map(\.name) == ["input_ids", "attention_mask", "token_type_ids"])
        #expect(summary.inputs[0].shape == [.param("batch"), .param("sequence")])
        #expect(summary.outputs[1].shape == [.param("batch"), .value(16)])
        #expect(summary.nodes.total == model.graph.nodes.count)
        #expect(summary.initializers.count == model.graph.initializers.count)
        #expect(summary.initializers.bytes == model.graph.initializers.reduce(0) { $0 + $1.tensor.byteCount })
        #expect(result.stdout.contains("\"byOpType\""), "stable key names")
    }

    @Test func reportsWhatTheEngineCannotRun() throws {
        let folder = try TemporaryFolder()
        var model = TestModels.linearRelu()
        model.graph.nodes[2] = Node(opType: "FastGelu", inputs: ["pre"], outputs: ["y"], name: "gelu", domain: "com.microsoft")
        model.opsetImports.append(OpsetImport(domain: "com.microsoft", version: 1))
        let url = folder.file("custom.onnx")
        try model.save(to: url)
        let text = try OctetProcess.run(["inspect", url.path])
        #expect(text.status == 0)
        #expect(text.stdout.hasSuffix("Engine: cannot run 1 of 3 operator types:\n  FastGelu (com.microsoft, opset 1): 'gelu' (FastGelu)\n"))
        let json = try OctetProcess.run(["inspect", url.path, "--json"])
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let unsupported = document?["unsupportedOperators"] as? [[String: Any]]
        #expect(unsupported?.first?["opType"] as? String == "FastGelu")
        #expect(unsupported?.first?["nodes"] as? [String] == ["'gelu' (FastGelu)"])
    }

    @Test func helpAndVersion() throws {
        let help = try OctetProcess.run(["inspect", "--help"])
        #expect(help.status == 0 && help.stdout.contains("--json"))
        let bad = try OctetProcess.run(["inspect", Self.example, "--no-such-flag"])
        #expect(bad.status == 64 && bad.stderr.contains("--no-such-flag"))
    }
}
