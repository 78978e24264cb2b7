import Foundation
import Testing
import _OctetTestSupport
@testable import OctetGraph
@testable import OctetData

/// Calibration data layouts and validation against `TestModels.linearRelu` (input `x`,
/// float32 [batch, 4]). NumPy-, Polygraphy- and onnx-written files are covered by the interop
/// suite; these build the files with Octet's own writers.
struct CalibrationDataTests {
    static let model = TestModels.linearRelu()

    static func rows(_ count: Int, start: Float = 0) -> Tensor {
        Tensor(shape: [count, 4], scalars: (0..<(count * 4)).map { start + Float($0) })
    }

    /// Reads every sample through the validator; returns feeds, problems and warnings.
    static func validate(_ data: CalibrationData, allowNonfinite: Bool = false) throws
        -> (feeds: [[String: Tensor]], problems: [String], warnings: [String], statistics: [InputStatistics])
    {
        var validator = FeedValidator(model: model, allowNonfinite: allowNonfinite)
        data.sources.forEach { validator.checkRowCounts($0) }
        var feeds: [[String: Tensor]] = []
        try data.forEach { sample in
            if let fed = validator.check(sample) { feeds.append(fed) }
            return true
        }
        if validator.sampleCount == 0 { validator.noSamples(in: data) }
        return (feeds, validator.problems, validator.warnings, validator.statistics)
    }

    @Test func stackedNpzRowsBecomeSamplesWithABatchAxis() throws {
        let folder = try TemporaryFolder()
        try NPZArchive.write([("x", Self.rows(3))], to: folder.file("calib.npz"))
        let data = try CalibrationData(paths: [folder.file("calib.npz").path])
        #expect(data.sampleCount == 3)
        let result = try Self.validate(data)
        #expect(result.problems.isEmpty)
        #expect(result.feeds.map { $0["x"]?.shape } == [[1, 4], [1, 4], [1, 4]])
        #expect(result.feeds[2]["x"]?.scalars(as: Float.self) == [8, 9, 10, 11])
        #expect(result.statistics[0].minimum == 0 && result.statistics[0].maximum == 11 && result.statistics[0].samples == 3)
    }

    @Test func compressedNpzAndNpyFolders() throws {
        let folder = try TemporaryFolder()
        try NPZArchive.write([("x", Self.rows(2))], to: folder.file("calib.npz"), compressed: true)
        let packed = try Self.validate(try CalibrationData(paths: [folder.file("calib.npz").path]))
        #expect(packed.feeds.count == 2 && packed.problems.isEmpty)
        let npy = folder.file("npy")
        try FileManager.default.createDirectory(at: npy, withIntermediateDirectories: true)
        try NPYFile.write(Self.rows(5, start: 100), to: npy.appendingPathComponent("x.npy"))
        let data = try CalibrationData(paths: [npy.path])
        #expect(data.sources.first?.format == "folder of <input>.npy (samples on axis 0)")
        let result = try Self.validate(data)
        #expect(result.feeds.count == 5 && result.feeds[4]["x"]?.scalars(as: Float.self).first == 116)
    }

    @Test func perSampleFilesAndTestDataSetsKeepTheirOrder() throws {
        let folder = try TemporaryFolder()
        let samples = folder.file("samples")
        try FileManager.default.createDirectory(at: samples, withIntermediateDirectories: true)
        // With and without the batch axis; sorted by file name, not creation order.
        try NPZArchive.write([("x", Tensor(shape: [4], scalars: [Float](repeating: 2, count: 4)))], to: samples.appendingPathComponent("b.npz"))
        try NPZArchive.write([("x", Tensor(shape: [2, 4], scalars: [Float](repeating: 1, count: 8)))], to: samples.appendingPathComponent("a.npz"))
        let result = try Self.validate(try CalibrationData(paths: [samples.path]))
        #expect(result.feeds.map { $0["x"]?.shape } == [[2, 4], [1, 4]])
        let sets = folder.file("sets")
        for index in [10, 2] {
            let set = sets.appendingPathComponent("test_data_set_\(index)")
            try FileManager.default.createDirectory(at: set, withIntermediateDirectories: true)
            try TensorProtoFile.write(Self.rows(1, start: Float(index)), name: "x", to: set.appendingPathComponent("input_0.pb"))
        }
        let onnx = try Self.validate(try CalibrationData(paths: [sets.path]))
        #expect(onnx.feeds.map { $0["x"]?.scalars(as: Float.self).first } == [2, 10])
    }

    @Test func polygraphyJsonBothMarkers() throws {
        let folder = try TemporaryFolder()
        let npy = try NPYFile.encode(Self.rows(1), file: "x").base64EncodedString()
        let current = "[{\"x\": {\"array\": \"\(npy)\", \"polygraphy_class\": \"ndarray\"}}]"
        let legacy = "[{\"x\": {\"array\": \"\(npy)\", \"polygraphy_serialized_json_type\": \"ndarray\"}}, {\"x\": {\"array\": \"\(npy)\", \"polygraphy_class\": \"ndarray\"}}]"
        try Data(current.utf8).write(to: folder.file("a.json"))
        try Data(legacy.utf8).write(to: folder.file("b.json"))
        let data = try CalibrationData(paths: [folder.file("a.json").path, folder.file("b.json").path])
        #expect(data.sampleCount == 3)
        #expect(try Self.validate(data).feeds.count == 3)
        try Data("{\"not\": \"a list\"}".utf8).write(to: folder.file("c.json"))
        #expect(throws: DataError.self) { try CalibrationData(paths: [folder.file("c.json").path]) }
    }

    @Test func everyProblemIsReportedWithInputFileAndSample() throws {
        let folder = try TemporaryFolder()
        let file = folder.file("bad.npz")
        try NPZArchive.write([
            ("x", Tensor(shape: [2, 5], scalars: [Int32](repeating: 1, count: 10))),
            ("y", Tensor(shape: [3, 4], scalars: [Float](repeating: 0, count: 12))),
        ], to: file)
        let problems = try Self.validate(try CalibrationData(paths: [file.path])).problems
        let member = "\(file.path):x.npy"
        #expect(problems.contains { $0.hasPrefix("inputs have different sample counts: 'x': 2") })
        #expect(problems.contains("\(file.path):y.npy: 'y' is not an input of the model (its inputs are: x)"))
        #expect(problems.contains("input 'x' (\(member), sample 0): the data is int32 but the model expects float32"))
        #expect(problems.contains("input 'x' (\(member), sample 1): shape [1, 5] does not match the model's [batch, 4] at axis 1 (expected 4, got 5)"))
    }

    @Test func rankNonFiniteAndEmptyData() throws {
        let folder = try TemporaryFolder()
        try NPZArchive.write([("x", Tensor(shape: [1, 1, 1, 4], scalars: [Float](repeating: 0, count: 4)))], to: folder.file("rank.npz"))
        let rank = try Self.validate(try CalibrationData(paths: [folder.file("rank.npz").path])).problems
        #expect(rank.first?.contains("has 3 dimensions but the model expects 2") == true)
        let values: [Float] = [1, .nan, .infinity, 2]
        try NPZArchive.write([("x", Tensor(shape: [1, 4], scalars: values))], to: folder.file("nan.npz"))
        let nan = try Self.validate(try CalibrationData(paths: [folder.file("nan.npz").path]))
        #expect(nan.problems == ["input 'x' (\(folder.file("nan.npz").path):x.npy, sample 0): 2 NaN or infinite values; pass --allow-nonfinite if that is intended"])
        let allowed = try Self.validate(try CalibrationData(paths: [folder.file("nan.npz").path]), allowNonfinite: true)
        #expect(allowed.problems.isEmpty && allowed.statistics[0].nonFinite == 2)
        try NPZArchive.write([("x", Tensor(shape: [0, 4], scalars: [Float]()))], to: folder.file("empty.npz"))
        let empty = try Self.validate(try CalibrationData(paths: [folder.file("empty.npz").path])).problems
        #expect(empty == ["no samples in \(folder.file("empty.npz").path)"])
    }

    @Test func losslessWideningWarnsOnce() throws {
        let folder = try TemporaryFolder()
        try NPZArchive.write([("x", Tensor(shape: [2, 4], scalars: [Double](repeating: 0.5, count: 8)))], to: folder.file("d.npz"))
        let result = try Self.validate(try CalibrationData(paths: [folder.file("d.npz").path]))
        #expect(result.problems.isEmpty)
        #expect(result.warnings.count == 1 && result.warnings[0].hasPrefix("input 'x': float64 data is converted to the model's float32"))
        #expect(result.feeds[0]["x"]?.dtype == .float32)
    }

    @Test func missingPathsAndMixedFolders() throws {
        let folder = try TemporaryFolder()
        #expect(throws: DataError.unrecognized(path: folder.file("nope").path, reason: "no such file or folder")) {
            try CalibrationData(paths: [folder.file("nope").path])
        }
        try NPZArchive.write([("x", Self.rows(1))], to: folder.file("a.npz"))
        try NPYFile.write(Self.rows(1), to: folder.file("x.npy"))
        do {
            _ = try CalibrationData(paths: [folder.url.path])
            Issue.record("a mixed folder was accepted")
        } catch {
            #expect(error.localizedDescription.contains("mixes npy, npz files"))
        }
    }

    @Test func batchingConcatenatesAndChecksShapes() throws {
        var batcher = RunBatcher(batchSize: 2)
        #expect(try batcher.add(["x": Self.rows(1)], index: 0) == nil)
        let run = try #require(try batcher.add(["x": Self.rows(1, start: 4)], index: 1))
        #expect(run["x"]?.shape == [2, 4] && run["x"]?.scalars(as: Float.self) == (0..<8).map(Float.init))
        #expect(try batcher.add(["x": Self.rows(1)], index: 2) == nil)
        #expect(try batcher.flush()?["x"]?.shape == [1, 4])
        var mismatched = RunBatcher(batchSize: 2)
        _ = try mismatched.add(["x": Tensor(shape: [1, 3], scalars: [Float](repeating: 0, count: 3))], index: 0)
        #expect(throws: DataError.self) { try mismatched.add(["x": Self.rows(1)], index: 1) }
        #expect(try RunBatcher.batchSize(for: Self.model, requested: nil) == 1)
        var fixed = Self.model
        fixed.graph.inputs[0] = .tensor("x", .float32, [.value(8), .value(4)])
        #expect(try RunBatcher.batchSize(for: fixed, requested: nil) == 8)
        #expect(throws: DataError.self) { try RunBatcher.batchSize(for: fixed, requested: 2) }
    }
}

extension CalibrationDataTests {
    @Test func fixedBatchOfOneIsChecked() throws {
        let folder = try TemporaryFolder()
        let file = folder.file("two.npz")
        try NPZArchive.write([("x", Tensor(shape: [2, 4], scalars: [Float](repeating: 1, count: 8)))], to: file)
        var model = Self.model
        model.graph.inputs[0] = .tensor("x", .float32, [.value(1), .value(4)])
        var validator = FeedValidator(model: model)
        // One per-sample file holding two rows where the model takes exactly one.
        _ = validator.check(RawSample(values: ["x": try NPZArchive(url: file).tensor("x")], files: ["x": file.path], index: 0))
        #expect(validator.problems == ["input 'x' (\(file.path), sample 0): shape [2, 4] does not match the model's [1, 4] at axis 0 (expected 1, got 2)"])
    }
}

/// "Did you mean" suggestions for data names that are not inputs.
struct NameSuggestionTests {
    @Test func suggestsOnlyLikelyTypos() {
        let inputs = ["input_ids", "attention_mask", "token_type_ids"]
        #expect(NameSuggestion.closest(to: "input_idz", among: inputs) == "input_ids")
        #expect(NameSuggestion.closest(to: "Attention_Mask", among: inputs) == "attention_mask")
        #expect(NameSuggestion.closest(to: "token_types", among: inputs) == "token_type_ids")
        #expect(NameSuggestion.closest(to: "pixels", among: inputs) == nil)
        #expect(NameSuggestion.closest(to: "y", among: ["x"]) == nil)
        #expect(NameSuggestion.editDistance(Array("kitten"), Array("sitting")) == 3)
    }
}
