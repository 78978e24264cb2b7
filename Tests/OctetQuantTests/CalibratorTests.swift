import Foundation
import Testing
import _OctetTestSupport
import OctetData
import OctetGraph
import OctetRuntime
@testable import OctetQuant

/// Calibration runs are exact: the statistics, their stats file and the ranges are identical
/// whatever the thread count, batch size or sharding.
@Suite(.serialized) struct CalibratorTests {
    static let model = TestModels.maskedCNN()

    /// A folder holding `count` samples of `x` stacked in one `.npz`.
    static func data(_ count: Int, in folder: TemporaryFolder) throws -> CalibrationData {
        let values = TestModels.randomFloats(count * 72, seed: 7, scale: 3)
        try NPZArchive.write([("x", Tensor(shape: [count, 2, 6, 6], scalars: values))], to: folder.file("calib.npz"))
        return try CalibrationData(paths: [folder.file("calib.npz").path])
    }

    static func calibrate(_ data: CalibrationData, batchSize: Int? = nil, shard: Shard? = nil, threads: Int? = nil) throws
        -> CalibrationStatistics
    {
        let saved = ThreadPool.threads
        defer { ThreadPool.threads = saved }
        if let threads { ThreadPool.threads = threads }
        let calibrator = Calibrator(model: model, modelHash: "test", options: .init(batchSize: batchSize, shard: shard))
        return try calibrator.calibrate(data).statistics
    }

    @Test func sameStatisticsWhateverThreadsAndBatchSize() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(10, in: folder)
        let reference = try Self.calibrate(data, threads: 1)
        #expect(reference.data.samples == 10)
        #expect(reference.tensors.map(\.name) == ["x", "conv", "relu", "skip", "sum", "pooled", "flat", "logits", "mask", "masked", "scores"])
        let bytes = try StatsFile.encode(reference)
        for (batch, threads) in [(4, 2), (3, 1), (10, 2)] {
            let other = try Self.calibrate(data, batchSize: batch, threads: threads)
            #expect(other == reference, "batch \(batch), threads \(threads)")
            #expect(try StatsFile.encode(other) == bytes)
        }
        for algorithm in [RangeAlgorithm.entropy, .minmax, .percentile(99.9), .mse] {
            #expect(try reference.ranges(algorithm).map(\.amax).allSatisfy(\.isFinite))
        }
    }

    @Test func softmaxOutputsKeepTheirObservedMaximum() throws {
        let folder = try TemporaryFolder()
        let statistics = try Self.calibrate(try Self.data(10, in: folder))
        let plain = try statistics.ranges(.percentile(50))
        let kept = try statistics.ranges(.percentile(50), observedMaximum: ["scores"])
        // The median clips the Softmax output, so the rule changes its range.
        let clipped = try #require(plain.first { $0.name == "scores" })
        #expect(clipped.amax < Double(try #require(clipped.absmax)))
        for (before, after) in zip(plain, kept) {
            if after.name == "scores" {
                let absmax = try #require(after.absmax)
                #expect(after.method == "minmax" && after.amax == Double(absmax))
            } else {
                #expect(after == before)
            }
        }
    }

    @Test func mergedShardsEqualOneFullRun() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(11, in: folder)
        let full = try Self.calibrate(data)
        // Round-trip every shard through its stats file, then merge in a shuffled order.
        var parts: [(file: String, statistics: CalibrationStatistics)] = []
        for index in [2, 0, 1] {
            let shard = try Self.calibrate(data, batchSize: 2, shard: Shard("\(index)/3"))
            let url = folder.file("shard\(index).json")
            try StatsFile.encode(shard).write(to: url)
            parts.append((url.path, try StatsFile.read(url)))
        }
        let merged = try CalibrationStatistics.merge(parts, order: Self.model.graph.productionOrder)
        #expect(merged.shards == ["0/3", "1/3", "2/3"] && merged.coversAllShards)
        #expect(merged.data == full.data && merged.data.samples == 11)
        #expect(merged.tensors.map(\.name) == full.tensors.map(\.name))
        #expect(merged.tensors.map(\.statistics) == full.tensors.map(\.statistics))
        for algorithm in [RangeAlgorithm.entropy, .minmax, .percentile(99.99), .mse] {
            let cache = CalibrationCache(ranges: try merged.ranges(algorithm), header: "TRT-101303-EntropyCalibration2")
            #expect(cache.text == CalibrationCache(ranges: try full.ranges(algorithm), header: "TRT-101303-EntropyCalibration2").text)
        }
        #expect(throws: StatsFileError.repeatedShard(file: "again", shard: "0/3")) {
            try CalibrationStatistics.merge(parts + [("again", parts[1].statistics)], order: [])
        }
        var other = parts[0].statistics
        other.modelHash = "elsewhere"
        #expect(throws: StatsFileError.otherModel(file: "other", fileHash: "elsewhere", modelHash: "test", model: parts[0].file)) {
            try CalibrationStatistics.merge([parts[0], ("other", other)], order: [])
        }
    }

    @Test func statsFileRoundTripAndRefusals() throws {
        let folder = try TemporaryFolder()
        let statistics = try Self.calibrate(try Self.data(3, in: folder))
        let bytes = try StatsFile.encode(statistics)
        #expect(try StatsFile.decode(bytes, file: "s.json") == statistics)
        let text = String(decoding: bytes, as: UTF8.self)
        let cases: [(String, String)] = [
            ("{}", "missing key"),
            (text.replacingOccurrences(of: "\"version\":1", with: "\"version\":9"), "version 9"),
            (text.replacingOccurrences(of: "\"format\":\"octet-stats\"", with: "\"format\":\"other\""), "not an Octet stats file"),
            (text.replacingOccurrences(of: "\"binExponent\":-", with: "\"binExponent\":-9"), "tensor 'x'"),
            (String(text.prefix(text.count / 2)), "not an Octet stats file"),
        ]
        for (bad, expected) in cases {
            do {
                _ = try StatsFile.decode(Data(bad.utf8), file: "bad.json")
                Issue.record("accepted a malformed stats file (\(expected))")
            } catch let error as StatsFileError {
                #expect(error.localizedDescription.hasPrefix("bad.json: "))
                #expect(error.localizedDescription.contains(expected), "\(error.localizedDescription)")
            }
        }
    }

    @Test func badSamplesStopTheModelAndEveryProblemIsReported() throws {
        let folder = try TemporaryFolder()
        let samples = folder.file("samples")
        try FileManager.default.createDirectory(at: samples, withIntermediateDirectories: true)
        for index in 0..<8 {
            var values = TestModels.randomFloats(72, seed: UInt64(index))
            if index == 3 { values[5] = .nan }
            let shape = index == 6 ? [1, 2, 6, 5] : [1, 2, 6, 6]
            try NPZArchive.write([("x", Tensor(shape: shape, scalars: Array(values.prefix(shape.reduce(1, *)))))],
                                 to: samples.appendingPathComponent(String(format: "s%02d.npz", index)))
        }
        let calibrator = Calibrator(model: Self.model, modelHash: "test")
        var runs = 0
        do {
            _ = try calibrator.calibrate(try CalibrationData(paths: [samples.path])) { _, _ in runs += 1 }
            Issue.record("bad samples were accepted")
        } catch DataError.invalid(let problems) {
            #expect(problems.count == 2, "\(problems)")
            #expect(problems.contains { $0.contains("s03.npz, sample 3): 1 NaN or infinite value") })
            #expect(problems.contains { $0.contains("s06.npz, sample 6): shape [1, 2, 6, 5] does not match") })
        }
        #expect(runs <= 3, "the model stops at the first bad sample")
    }

    @Test func aFailingModelStopsTheReaderAndReportsTheNode() throws {
        // Reshape to [2, -1] fails on an odd length.
        let graph = Graph(
            name: "halves",
            nodes: [Node(opType: "Reshape", inputs: ["x", "shape"], outputs: ["y"], name: "halve")],
            inputs: [.tensor("x", .float32, [.param("n")])], outputs: [.tensor("y", .float32, nil)],
            initializers: [GraphTensor(name: "shape", tensor: Tensor(shape: [2], scalars: [Int64(2), -1]))])
        let model = Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
        let folder = try TemporaryFolder()
        for (index, length) in ([4, 5] + [Int](repeating: 6, count: 40)).enumerated() {
            try NPZArchive.write([("x", Tensor(shape: [length], scalars: [Float](repeating: 1, count: length)))],
                                 to: folder.file(String(format: "s%03d.npz", index)))
        }
        var runs = 0
        #expect(throws: RuntimeError.self) {
            _ = try Calibrator(model: model, modelHash: "test").calibrate(try CalibrationData(paths: [folder.url.path])) { _, _ in runs += 1 }
        }
        #expect(runs == 1)
    }

    @Test func subgraphValuesAreObserved() throws {
        let model = TestModels.ifModel()
        let calibrator = Calibrator(model: model, modelHash: "test")
        let folder = try TemporaryFolder()
        try NPZArchive.write([("x", Tensor(shape: [2, 3], scalars: [Float](repeating: 1, count: 6))),
                              ("flag", Tensor(shape: [2], scalars: [true, false]))], to: folder.file("d.npz"))
        let statistics = try calibrator.calibrate(try CalibrationData(paths: [folder.file("d.npz").path]), progress: { _, _ in }).statistics
        #expect(statistics.tensors.map(\.name) == ["x", "doubled", "then_out", "else_out", "y"])
        #expect(statistics.tensors.first { $0.name == "then_out" }?.statistics.count == 3)
    }

    @Test func hostileStatsFilesAreRefusedWithTheFileNamed() throws {
        let folder = try TemporaryFolder()
        let text = String(decoding: try StatsFile.encode(try Self.calibrate(try Self.data(3, in: folder))), as: UTF8.self)
        func u64s(_ values: [UInt64]) -> String {
            var bytes = Data()
            for value in values { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
            return bytes.base64EncodedString()
        }
        let firstCounts = try #require(text.range(of: #""counts":"[^"]*""#, options: .regularExpression))
        let cases: [(String, String)] = [
            // Counts that would overflow when added up, and more bins than a histogram has.
            (text.replacingCharacters(in: firstCounts, with: "\"counts\":\"\(u64s([UInt64.max]))\""), "out of range"),
            (text.replacingCharacters(in: firstCounts, with: "\"counts\":\"\(u64s([UInt64](repeating: 1, count: 2049)))\""), "up to 2048"),
            // A length that lies: the value count disagrees with the histogram.
            (text.replacingOccurrences(of: "\"count\":", with: "\"count\":7"), "differs from the histogram"),
            (text.replacingOccurrences(of: "\"binExponent\":-", with: "\"binExponent\":-9999"), "out of range"),
            (text.replacingOccurrences(of: "\"fingerprint\":\"", with: "\"fingerprint\":\"zz"), "fingerprint"),
            // Deep nesting.
            (String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), "not an Octet stats file"),
            (String(repeating: "{\"a\":", count: 50_000) + "1" + String(repeating: "}", count: 50_000), "not an Octet stats file"),
        ]
        for (bad, expected) in cases {
            do {
                _ = try StatsFile.decode(Data(bad.utf8), file: "hostile.json")
                Issue.record("accepted a hostile stats file (\(expected))")
            } catch let error as StatsFileError {
                #expect(error.localizedDescription.hasPrefix("hostile.json: "))
                #expect(error.localizedDescription.contains(expected), "\(error.localizedDescription)")
            }
        }
    }

    @Test func hostileCachesAreRefusedWithTheLineNamed() {
        let cases: [(String, String)] = [
            ("TRT-100300-EntropyCalibration2\nx: 123456789\n", "2: not a TensorRT calibration cache line: '123456789' is not 1–8 hex digits"),
            ("TRT-100300-EntropyCalibration2\n: 3c010204\n", "2: not a TensorRT calibration cache line: the tensor name is empty"),
            (String(repeating: "A", count: 1 << 20), "1: not a TensorRT calibration cache line: expected a header"),
            ("TRT-" + String(repeating: "9", count: 500) + "\nx: 1\n", "1: not a TensorRT calibration cache line: expected a header"),
        ]
        for (text, expected) in cases {
            #expect(throws: CacheError.self) { try CalibrationCache.parse(text, file: "c.calib") }
            do { _ = try CalibrationCache.parse(text, file: "c.calib") } catch {
                #expect(error.localizedDescription == "c.calib:\(expected)" || error.localizedDescription.hasPrefix("c.calib:\(expected)"),
                        "\(error.localizedDescription)")
            }
        }
    }

    @Test func fingerprintsAddUpOverShards() {
        var whole = DataFingerprint()
        var even = DataFingerprint()
        var odd = DataFingerprint()
        for index in 0..<5 {
            let feeds = ["x": Tensor(shape: [1, 2], scalars: [Float(index), 1])]
            whole.add(index: index, feeds: feeds)
            if index % 2 == 0 { even.add(index: index, feeds: feeds) } else { odd.add(index: index, feeds: feeds) }
        }
        odd.merge(even)
        #expect(odd == whole && whole.hex.count == 64)
    }

    @Test func sha256KnownAnswers() {
        func digest(_ text: String) -> String {
            var hash = SHA256()
            hash.update(Data(text.utf8))
            return SHA256.hex(hash.finalize())
        }
        // FIPS 180-4 examples.
        #expect(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(digest(String(repeating: "a", count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
