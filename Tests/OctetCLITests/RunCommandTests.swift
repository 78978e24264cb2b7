import Foundation
import Testing
import _OctetTestSupport
import OctetGraph

/// `octet run` as a user runs it: inputs by name, printed summaries, saved outputs, errors.
struct RunCommandTests {
    static let example = OctetProcess.repositoryRoot.appendingPathComponent("Examples/mini-encoder/model.onnx").path

    static func encoderInputs(in folder: TemporaryFolder, sequence: Int = 6) throws -> URL {
        let ids = (0..<(2 * sequence)).map { Int64($0 * 7 % 50) }
        let mask = (0..<(2 * sequence)).map { Int64($0 % sequence < sequence - 1 ? 1 : 0) }
        let url = folder.file("inputs.npz")
        try NPZArchive.write([
            ("input_ids", Tensor(shape: [2, sequence], scalars: ids)),
            ("token_type_ids", Tensor(shape: [2, sequence], scalars: [Int64](repeating: 0, count: 2 * sequence))),
            ("attention_mask", Tensor(shape: [2, sequence], scalars: mask)),
        ], to: url)
        return url
    }

    @Test func runsTheExampleAndSavesOutputs() throws {
        let folder = try TemporaryFolder()
        let inputs = try Self.encoderInputs(in: folder)
        let saved = folder.file("out.npz")
        let result = try OctetProcess.run(["run", Self.example, "--load-inputs", inputs.path, "--save-outputs", saved.path, "--verbose"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("last_hidden_state: float32 [2, 6, 16] min "))
        #expect(lines[1].hasPrefix("pooler_output: float32 [2, 16] min "))
        #expect(result.stderr.hasPrefix("peak intermediate tensor memory: "))
        let archive = try NPZArchive(url: saved)
        #expect(archive.keys == ["last_hidden_state", "pooler_output"])
        #expect(try archive.tensor("pooler_output").shape == [2, 16])
    }

    /// `--profile`: one row per operator type of the model, calls per run equal to its node count,
    /// shares summing to about 100 %, and the total last.
    @Test func profilePrintsKernelTimePerOperator() throws {
        let folder = try TemporaryFolder()
        let inputs = try Self.encoderInputs(in: folder)
        let result = try OctetProcess.run(["run", Self.example, "--load-inputs", inputs.path, "--iterations", "3", "--profile"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n").map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("operator") })
        let rows = lines[(header + 1)...].filter { !$0.hasPrefix("all kernels") }
        #expect(lines.last?.hasPrefix("all kernels") == true)
        // The encoder has no Conv or Add → Relu, so the fused session keeps every node.
        let model = try Model.load(contentsOf: URL(fileURLWithPath: Self.example))
        var counts: [String: Int] = [:]
        for node in model.graph.nodes { counts[node.opType, default: 0] += 1 }
        var shares = 0.0
        for row in rows {
            let fields = row.split(separator: " ").map(String.init)
            let name = try #require(fields.first)
            let calls = try #require(fields.last.flatMap(Double.init))
            shares += Double(fields[fields.count - 2].dropLast()) ?? 0
            #expect(counts[name].map { Double($0) == calls } ?? false, "\(name): \(calls) calls per run")
        }
        #expect(rows.count == counts.count)
        #expect(abs(shares - 100) < 1, "shares add up to \(shares) %")
    }

    @Test func allOutputsIncludeIntermediates() throws {
        let folder = try TemporaryFolder()
        let inputs = try Self.encoderInputs(in: folder, sequence: 3)
        let saved = folder.file("all.npz")
        let result = try OctetProcess.run(["run", Self.example, "--load-inputs", inputs.path, "--outputs", "all", "--save-outputs", saved.path])
        #expect(result.status == 0, "\(result.stderr)")
        let model = try Model.load(contentsOf: URL(fileURLWithPath: Self.example))
        let produced = Set(model.graph.nodes.flatMap(\.outputs))
        #expect(Set(try NPZArchive(url: saved).keys) == produced)
    }

    @Test func missingAndMisnamedInputsAreErrors() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("partial.npz")
        try NPZArchive.write([("input_ids", Tensor(shape: [1, 2], scalars: [Int64(1), 2]))], to: url)
        let missing = try OctetProcess.run(["run", Self.example, "--load-inputs", url.path])
        #expect(missing.status == 1)
        #expect(missing.stderr == """
            Error: the data does not fit the model's inputs:
              - sample 0 (\(url.path)): input 'attention_mask' is missing
              - sample 0 (\(url.path)): input 'token_type_ids' is missing

            """)
        let extra = folder.file("extra.npz")
        try NPZArchive.write([("images", Tensor(shape: [1], scalars: [Float(1)]))], to: extra)
        let wrong = try OctetProcess.run(["run", Self.example, "--load-inputs", extra.path])
        #expect(wrong.status == 1 && wrong.stderr.contains("'images' is not an input of the model"))
    }
}
