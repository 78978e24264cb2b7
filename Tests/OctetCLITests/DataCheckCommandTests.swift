import Foundation
import Testing
import _OctetTestSupport
import OctetGraph

/// `octet data check` end to end: a clean report, and batching that cannot work.
struct DataCheckCommandTests {
    static let example = OctetProcess.repositoryRoot.appendingPathComponent("Examples/mini-encoder/model.onnx").path

    /// Per-sample files with sequence lengths 4, 5 and 6.
    static func samples(in folder: TemporaryFolder) throws -> URL {
        let url = folder.file("samples")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (index, length) in [4, 5, 6].enumerated() {
            let ids = Tensor(shape: [1, length], scalars: (0..<length).map { Int64($0 % 50) })
            let ones = Tensor(shape: [1, length], scalars: [Int64](repeating: 1, count: length))
            let zeros = Tensor(shape: [1, length], scalars: [Int64](repeating: 0, count: length))
            try NPZArchive.write([("input_ids", ids), ("attention_mask", ones), ("token_type_ids", zeros)],
                                 to: url.appendingPathComponent("s\(index).npz"))
        }
        return url
    }

    @Test func variableLengthsCheckOneByOne() throws {
        let folder = try TemporaryFolder()
        let result = try OctetProcess.run(["data", "check", Self.example, "--calibration-data", try Self.samples(in: folder).path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("input_ids       int64  int64  [1, 4–6]  0 … 5   3        0           yes"))
        #expect(result.stdout.hasSuffix("Dry run: ok, 1 sample through the model\n"))
    }

    @Test func batchingSamplesOfDifferentLengthsIsReported() throws {
        let folder = try TemporaryFolder()
        let result = try OctetProcess.run(["data", "check", Self.example, "--calibration-data", try Self.samples(in: folder).path,
                                           "--batch-size", "2"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("input 'attention_mask': samples 0, 1 differ in shape outside the batch axis ([[1, 4], [1, 5]]); use --batch-size 1"))
        #expect(result.stderr.contains("warning: 3 samples do not fill runs of 2: the last run holds 1"))
        #expect(result.stdout.hasSuffix("Dry run: not run (the data does not fit the model)\n"))
    }
}
