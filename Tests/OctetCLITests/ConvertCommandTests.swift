import Foundation
import Testing
import _OctetTestSupport
import OctetGraph

/// `octet convert` without quantization: validate and re-save, never touching its inputs.
struct ConvertCommandTests {
    @Test func rewritesAndMovesWeights() throws {
        let folder = try TemporaryFolder()
        let source = folder.file("model.onnx")
        try TestModels.linearRelu().save(to: source)
        let external = try OctetProcess.run(["convert", source.path, "-o", folder.file("ext.onnx").path,
                                             "--save-external-data", "--external-data-size-threshold", "16"])
        #expect(external.status == 0, "\(external.stderr)")
        #expect(external.stdout.contains("external data ext.onnx.data"))
        let reloaded = try Model.load(contentsOf: folder.file("ext.onnx"))
        #expect(reloaded.graph.initializers.map { $0.externalSource?.location } == ["ext.onnx.data", nil])
        let back = try OctetProcess.run(["convert", folder.file("ext.onnx").path, "-o", folder.file("back.onnx").path])
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try Data(contentsOf: folder.file("back.onnx")) == Data(contentsOf: source))
    }

    @Test func neverOverwritesItsInput() throws {
        let folder = try TemporaryFolder()
        let source = folder.file("model.onnx")
        try TestModels.linearRelu().save(to: source)
        let before = try Data(contentsOf: source)
        let result = try OctetProcess.run(["convert", source.path, "-o", source.path])
        #expect(result.status == 1 && result.stderr.contains("refusing to overwrite the input"))
        try FileManager.default.createSymbolicLink(at: folder.file("alias.onnx"), withDestinationURL: source)
        let aliased = try OctetProcess.run(["convert", source.path, "-o", folder.file("alias.onnx").path])
        #expect(aliased.status == 1 && aliased.stderr.contains("refusing to overwrite"))
        #expect(try Data(contentsOf: source) == before)
    }

    @Test func neverOverwritesTheInputsExternalData() throws {
        let folder = try TemporaryFolder()
        let source = folder.file("model.onnx")
        try TestModels.linearRelu().save(to: source, options: SaveOptions(externalData: .always, location: "weights.bin", sizeThreshold: 0))
        let result = try OctetProcess.run(["convert", source.path, "-o", folder.file("copy.onnx").path,
                                           "--save-external-data", "--external-data-path", "weights.bin"])
        #expect(result.status == 1 && result.stderr.contains("weights.bin"), "\(result.stderr)")
        #expect(try Model.load(contentsOf: source).graph.initializers.count == 2)
    }

    @Test func badFlagsAndMissingFolders() throws {
        let folder = try TemporaryFolder()
        let source = folder.file("model.onnx")
        try TestModels.linearRelu().save(to: source)
        let both = try OctetProcess.run(["convert", source.path, "-o", folder.file("x.onnx").path, "--save-external-data", "--no-external-data"])
        #expect(both.status == 64 && both.stderr.contains("contradict"))
        let noOutput = try OctetProcess.run(["convert", source.path])
        #expect(noOutput.status == 64 && noOutput.stderr.contains("--output"))
        let missing = try OctetProcess.run(["convert", source.path, "-o", folder.file("nowhere/x.onnx").path])
        #expect(missing.status == 1 && missing.stderr.contains("does not exist"))
    }
}
