import Foundation
import ONNXProto
import SwiftProtobuf
import Testing
import _OctetTestSupport
import OctetGraph

/// Every bad input gives one `Error: …` line naming the file and the problem, exit code 1,
/// nothing on stdout, no crash and no output file.
struct BadInputTests {
    /// Runs `octet` and checks the failure contract; returns stderr.
    static func expectFailure(_ arguments: [String], naming words: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try OctetProcess.run(arguments)
        #expect(result.status == 1, "exit status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasPrefix("Error: "), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, sourceLocation: sourceLocation)
        for word in words { #expect(result.stderr.contains(word), "'\(word)' missing from: \(result.stderr)", sourceLocation: sourceLocation) }
        for crash in ["Fatal error", "Stack dump", "backtrace", "Segmentation"] {
            #expect(!result.stderr.contains(crash), sourceLocation: sourceLocation)
        }
        return result.stderr
    }

    static func modelProto() throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: try TestModels.linearRelu().serializedData())
    }

    /// A hostile name 60,000 characters long is cut in the message, not echoed whole; a name
    /// past ZIP's 16-bit length cannot be written (an error, not a trap).
    @Test func hugeNamesAreCutInMessages() throws {
        let folder = try TemporaryFolder()
        #expect(throws: NumpyError.self) {
            try NPZArchive.write([(String(repeating: "n", count: 70_000), Tensor(shape: [1], scalars: [Float(1)]))], to: folder.file("long.npz"))
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("long.npz").path))
        let name = String(repeating: "n", count: 60_000)
        try NPZArchive.write([(name, Tensor(shape: [1, 4], scalars: [Float](repeating: 1, count: 4)))], to: folder.file("d.npz"))
        _ = try TestModels.linearRelu().save(to: folder.file("m.onnx"))
        let stderr = try Self.expectFailure(["run", folder.file("m.onnx").path, "--load-inputs", folder.file("d.npz").path], naming: ["d.npz", "more characters)"])
        #expect(stderr.split(separator: "\n").allSatisfy { $0.count < 2_200 }, "a line of \(stderr.count) characters")
    }

    @Test func garbageAndTruncatedModels() throws {
        let folder = try TemporaryFolder()
        let garbage = folder.file("garbage.onnx")
        try Data("this is certainly not protobuf".utf8).write(to: garbage)
        _ = try Self.expectFailure(["inspect", garbage.path], naming: [garbage.path, "not a valid ONNX model"])
        let truncated = folder.file("truncated.onnx")
        let bytes = try TestModels.linearRelu().serializedData()
        try bytes.prefix(bytes.count - 7).write(to: truncated)
        _ = try Self.expectFailure(["inspect", truncated.path], naming: [truncated.path, "truncated"])
        _ = try Self.expectFailure(["inspect", folder.file("absent.onnx").path], naming: ["absent.onnx", "no such file"])
        let output = folder.file("out.onnx")
        _ = try Self.expectFailure(["convert", garbage.path, "-o", output.path], naming: [garbage.path])
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    @Test func tensorDataLengthDisagreesWithShape() throws {
        let folder = try TemporaryFolder()
        var proto = try Self.modelProto()
        proto.graph.initializer[1].rawData = Data(count: 8)
        let url = folder.file("short.onnx")
        try (proto.serializedBytes() as Data).write(to: url)
        _ = try Self.expectFailure(["inspect", url.path], naming: [url.path, "tensor 'b'", "raw_data holds 8 bytes", "needs 12"])
    }

    @Test func cycleIsReportedWithNodeNames() throws {
        let folder = try TemporaryFolder()
        var model = TestModels.linearRelu()
        model.graph.nodes[0].inputs = ["y", "W"]
        let url = folder.file("cycle.onnx")
        try model.save(to: url)
        _ = try Self.expectFailure(["inspect", url.path], naming: [url.path, "cycle", "'matmul' (MatMul)", "'relu' (Relu)"])
    }

    @Test func externalDataProblems() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("model.onnx")
        try TestModels.linearRelu().save(to: url, options: SaveOptions(externalData: .always, sizeThreshold: 0))
        var proto = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: url))
        let original = proto
        proto.graph.initializer[0].externalData[0].value = "../../etc/passwd"
        try (proto.serializedBytes() as Data).write(to: url)
        _ = try Self.expectFailure(["inspect", url.path], naming: [url.path, "tensor 'W'", "'../../etc/passwd'", "model's folder"])
        try (original.serializedBytes() as Data).write(to: url)
        try FileManager.default.removeItem(at: folder.file("model.onnx.data"))
        _ = try Self.expectFailure(["inspect", url.path], naming: [url.path, "tensor 'W'", "model.onnx.data", "missing"])
    }

    @Test func corruptNpyAndNonNpz() throws {
        let folder = try TemporaryFolder()
        let npy = folder.file("corrupt.npy")
        try Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 0x20, 0x00] + Array("{'descr': '<f4', 'shape': (3,), 'fortran".utf8)).write(to: npy)
        _ = try Self.expectFailure(["data", "convert", npy.path, "-o", folder.file("out.npy").path], naming: [npy.path, "header"])
        let zip = folder.file("notes.npz")
        try Data("PK but not really".utf8).write(to: zip)
        _ = try Self.expectFailure(["data", "convert", zip.path, "-o", folder.file("out.npz").path], naming: [zip.path, "not a NumPy .npz archive"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted() == ["corrupt.npy", "notes.npz"])
    }
}
