import Foundation
import ONNXProto
import SwiftProtobuf
import Testing
import _OctetTestSupport
@testable import OctetGraph

/// External data: written beside the model, read back, and confined to the model's folder.
struct ExternalDataTests {
    /// Saves the test model with all weights external and returns the folder and model URL.
    static func externalModel(threshold: Int = 0) throws -> (TemporaryFolder, URL) {
        let folder = try TemporaryFolder()
        let url = folder.file("model.onnx")
        try TestModels.linearRelu().save(to: url, options: SaveOptions(externalData: .always, sizeThreshold: threshold))
        return (folder, url)
    }

    /// Rewrites the model at `url` with the first initializer's external entries changed.
    static func editExternal(_ url: URL, _ edit: (inout [String: String]) -> Void) throws {
        var proto = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: url))
        var entries = Dictionary(uniqueKeysWithValues: proto.graph.initializer[0].externalData.map { ($0.key, $0.value) })
        edit(&entries)
        proto.graph.initializer[0].externalData = entries.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        try (proto.serializedBytes() as Data).write(to: url)
    }

    @Test func savesAndLoadsExternalData() throws {
        let (folder, url) = try Self.externalModel()
        let data = folder.file("model.onnx.data")
        #expect(FileManager.default.fileExists(atPath: data.path))
        let loaded = try Model.load(contentsOf: url)
        #expect(loaded.graph.initializers.map(\.tensor) == TestModels.linearRelu().graph.initializers.map(\.tensor))
        #expect(loaded.graph.initializers[1].externalSource == ExternalDataReference(location: "model.onnx.data", offset: 4096, length: 12))
        let summary = ModelSummary(model: loaded, file: url.path)
        #expect(summary.externalData == [.init(location: "model.onnx.data", tensors: 2, bytes: 60)])
    }

    @Test func smallTensorsStayEmbedded() throws {
        let (folder, url) = try Self.externalModel(threshold: 20)
        let loaded = try Model.load(contentsOf: url)
        #expect(loaded.graph.initializers.map { $0.externalSource != nil } == [true, false])
        withExtendedLifetime(folder) {}
    }

    @Test(arguments: [
        ("/etc/passwd", "absolute paths are refused"),
        ("../outside.bin", "paths with '..' are refused"),
        ("sub/../../x", "paths with '..' are refused"),
    ])
    func locationsOutsideTheFolderAreRefused(location: String, reason: String) throws {
        let (folder, url) = try Self.externalModel()
        defer { withExtendedLifetime(folder) {} }
        try Self.editExternal(url) { $0["location"] = location }
        do {
            _ = try Model.load(contentsOf: url)
            Issue.record("loaded external data from \(location)")
        } catch {
            let message = error.localizedDescription
            #expect(message.contains(url.path) && message.contains("'W'") && message.contains(reason), "\(message)")
        }
    }

    @Test func symlinkOutOfTheFolderIsRefused() throws {
        let (folder, url) = try Self.externalModel()
        let outside = try TemporaryFolder()
        try FileManager.default.copyItem(at: folder.file("model.onnx.data"), to: outside.file("w.bin"))
        try FileManager.default.createSymbolicLink(at: folder.file("link.bin"), withDestinationURL: outside.file("w.bin"))
        try Self.editExternal(url) { $0["location"] = "link.bin" }
        #expect(throws: ModelError.self) { try Model.load(contentsOf: url) }
        do { _ = try Model.load(contentsOf: url) } catch {
            #expect(error.localizedDescription.contains("outside the model's folder"))
        }
    }

    @Test func missingFileAndBadLengthsNameTheTensor() throws {
        let (folder, url) = try Self.externalModel()
        try Self.editExternal(url) { $0["length"] = "40" }
        #expect(throws: ModelError.externalData(file: url.path, tensor: "W", location: "model.onnx.data",
                                                reason: "holds 40 bytes but the tensor's type and shape need 48")) {
            try Model.load(contentsOf: url)
        }
        try Self.editExternal(url) { $0["length"] = "48"; $0["offset"] = "1000000" }
        #expect(throws: ModelError.self) { try Model.load(contentsOf: url) }
        try Self.editExternal(url) { $0["offset"] = "0" }
        _ = try Model.load(contentsOf: url)
        try FileManager.default.removeItem(at: folder.file("model.onnx.data"))
        #expect(throws: ModelError.externalData(file: url.path, tensor: "W", location: "model.onnx.data",
                                                reason: "file is missing or unreadable")) {
            try Model.load(contentsOf: url)
        }
    }

    @Test func automaticGoesExternalPastTheLimit() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("big.onnx")
        let report = try TestModels.linearRelu().save(to: url, options: SaveOptions(sizeThreshold: 0, automaticLimit: 50))
        #expect(report.externalLocation == "big.onnx.data")
        #expect(report.externalBytes == 4096 + 12)
        let small = try TestModels.linearRelu().save(to: folder.file("small.onnx"))
        #expect(small.externalLocation == nil)
    }
}
