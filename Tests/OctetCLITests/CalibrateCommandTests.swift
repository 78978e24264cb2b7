import Foundation
import Testing
import _OctetTestSupport
import OctetGraph

/// `octet calibrate` end to end on the bundled 3-input encoder (its attention mask is built with
/// `-inf`): outputs, cache reuse and staleness, stats files, shards and error paths.
struct CalibrateCommandTests {
    static let example = DataCheckCommandTests.example

    /// 9 samples of the encoder's three int64 inputs, stacked in one `.npz`.
    static func data(in folder: TemporaryFolder) throws -> String {
        let count = 9, length = 6
        let ids = Tensor(shape: [count, length], scalars: (0..<(count * length)).map { Int64(($0 * 7 + 3) % 50) })
        let mask = Tensor(shape: [count, length], scalars: (0..<(count * length)).map { Int64($0 % length < length - 1 - ($0 / length) % 3 ? 1 : 0) })
        let types = Tensor(shape: [count, length], scalars: (0..<(count * length)).map { Int64($0 % length >= 3 ? 1 : 0) })
        let url = folder.file("calib.npz")
        try NPZArchive.write([("input_ids", ids), ("attention_mask", mask), ("token_type_ids", types)], to: url)
        return url.path
    }

    static func read(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }

    @Test func calibratesTheBundledEncoder() throws {
        let data = OctetProcess.repositoryRoot.appendingPathComponent("Examples/mini-encoder/calib.npz").path
        let result = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("Calibrated \(Self.example) on 32 samples (1 per run)"))
        #expect(result.stdout.contains("Tensors with NaN/inf values (left out of their statistics): where_31"))
        #expect(result.stdout.contains("Tensors whose largest |x| lies furthest past the chosen range:"))
        #expect(result.stderr.contains("note: 1 Softmax output keeps its largest value as range"))
    }

    @Test func writesCacheSidecarRangesAndStatsThenReusesTheCache() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(in: folder)
        let cache = folder.file("model.calib")
        let first = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--calibration-cache", cache.path,
                                          "--ranges-json", folder.file("ranges.json").path, "--save-stats", folder.file("stats.json").path])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.hasPrefix("Calibrated \(Self.example) on 9 samples (1 per run)"))
        #expect(first.stdout.contains("Tensors with NaN/inf values (left out of their statistics): "))
        #expect(first.stdout.contains("Wrote \(cache.path)\nWrote \(cache.path).json\n"))
        let text = try Self.read(cache)
        #expect(text.hasPrefix("TRT-101303-EntropyCalibration2\n"))
        let lines = text.split(separator: "\n").dropFirst()
        #expect(!lines.isEmpty && lines.allSatisfy { $0.range(of: #"^[^ ]+: [0-9a-f]{8}$"#, options: .regularExpression) != nil })
        let ranges = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.file("ranges.json"))) as? [String: Any]
        let tensors = ranges?["tensors"] as? [[String: Any]] ?? []
        #expect(tensors.count >= lines.count && tensors.allSatisfy { ($0["amax"] as? Double)?.isFinite == true })
        #expect(tensors.contains { ($0["nonFinite"] as? Int ?? 0) > 0 }, "the -inf mask is counted")

        // Same model and method: the cache is used, and left untouched.
        let again = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--calibration-cache", cache.path])
        #expect(again.status == 0 && again.stderr.contains("note: using the ranges of \(cache.path)"))
        #expect(again.stdout.hasPrefix("Ranges for \(Self.example) read from the calibration cache: \(lines.count) tensors"))
        #expect(try Self.read(cache) == text)

        // Another method: the sidecar disagrees, so Octet says why and calibrates again.
        let minmax = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--calibration-cache", cache.path,
                                           "--calibration-method", "minmax"])
        #expect(minmax.status == 0 && minmax.stderr.contains("not using \(cache.path): it was calibrated with entropy, not minmax; calibrating again"))
        #expect(try Self.read(cache) != text)

        // A cache without sidecar (written by TensorRT) is used as it is.
        try FileManager.default.removeItem(at: folder.file("model.calib.json"))
        let foreign = try OctetProcess.run(["calibrate", Self.example, "--calibration-cache", cache.path, "--calibration-method", "minmax"])
        #expect(foreign.status == 0 && foreign.stderr.contains("has no Octet sidecar (model.calib.json): using its"))

        // --force-recalibrate always calibrates.
        let forced = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--calibration-cache", cache.path,
                                           "--force-recalibrate"])
        #expect(forced.status == 0 && forced.stdout.hasPrefix("Calibrated"))
        #expect(try Self.read(cache) == text)
    }

    @Test func statsFilesSwitchMethodsAndMergeShardsExactly() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(in: folder)
        for method in ["entropy", "minmax", "percentile", "mse"] {
            let full = folder.file("full-\(method).calib")
            let direct = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--calibration-cache", full.path,
                                               "--calibration-method", method, "--save-stats", folder.file("full.json").path])
            #expect(direct.status == 0, "\(direct.stderr)")
            let reloaded = folder.file("reloaded-\(method).calib")
            let fromStats = try OctetProcess.run(["calibrate", Self.example, "--load-stats", folder.file("full.json").path,
                                                  "--calibration-cache", reloaded.path, "--calibration-method", method])
            #expect(fromStats.status == 0 && fromStats.stdout.contains("from merged statistics of 9 samples"))
            let expected = try Self.read(full)
            #expect(try Self.read(reloaded) == expected, "\(method) from a stats file")
        }
        var shards: [String] = []
        for index in 0..<3 {
            let path = folder.file("shard\(index).json").path
            let result = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--shard", "\(index)/3",
                                               "--save-stats", path, "--batch-size", "2", "--threads", "1"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("on 3 samples (2 per run)"))
            shards.append(path)
        }
        let merged = folder.file("merged.calib")
        let result = try OctetProcess.run(["calibrate", Self.example, "--load-stats"] + shards.reversed() + ["--calibration-cache", merged.path])
        #expect(result.status == 0 && result.stdout.contains("9 samples (shards 0/3, 1/3, 2/3)"))
        let expected = try Self.read(folder.file("full-entropy.calib"))
        #expect(try Self.read(merged) == expected)
        let partial = try OctetProcess.run(["calibrate", Self.example, "--load-stats", shards[0], "--ranges-json", folder.file("r.json").path])
        #expect(partial.status == 0 && partial.stderr.contains("note: the stats files hold shards 0/3 only"))
    }

    @Test func refusesStatisticsOfAnotherModelAndMalformedFiles() throws {
        let folder = try TemporaryFolder()
        let other = folder.file("other.onnx")
        _ = try TestModels.linearRelu().save(to: other)
        try NPZArchive.write([("x", Tensor(shape: [2, 4], scalars: [Float](repeating: 0.5, count: 8)))], to: folder.file("x.npz"))
        let saved = try OctetProcess.run(["calibrate", other.path, "--calibration-data", folder.file("x.npz").path,
                                          "--save-stats", folder.file("other.json").path])
        #expect(saved.status == 0, "\(saved.stderr)")
        let refused = try OctetProcess.run(["calibrate", Self.example, "--load-stats", folder.file("other.json").path, "--ranges-json", folder.file("r.json").path])
        #expect(refused.status == 1)
        #expect(refused.stderr.range(of: #"^Error: .*other\.json: these statistics are of another model \(sha256 [0-9a-f]{64}\); .*model\.onnx has sha256 [0-9a-f]{64}\n$"#, options: .regularExpression) != nil, "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("r.json").path))
        try Data("{\"format\": \"octet-stats\", \"version\": 1}".utf8).write(to: folder.file("broken.json"))
        let broken = try OctetProcess.run(["calibrate", Self.example, "--load-stats", folder.file("broken.json").path])
        #expect(broken.status == 1 && broken.stderr.hasPrefix("Error: \(folder.file("broken.json").path): not an Octet stats file: missing key"))
        try Data("TRT-8600-EntropyCalibration2\nname 3c010204\n".utf8).write(to: folder.file("bad.calib"))
        let badCache = try OctetProcess.run(["calibrate", Self.example, "--calibration-cache", folder.file("bad.calib").path])
        #expect(badCache.status == 1 && badCache.stderr == "Error: \(folder.file("bad.calib").path):2: not a TensorRT calibration cache line: expected '<tensor name>: <hex scale>'\n")
    }

    @Test func usageErrors() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(in: folder)
        let noStats = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--shard", "1/2"])
        #expect(noStats.status == 64 && noStats.stderr.contains("--shard needs --save-stats"))
        let badShard = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--shard", "2/2", "--save-stats", "s.json"])
        #expect(badShard.status == 64 && badShard.stderr.contains("--shard takes K/N with 0 ≤ K < N"))
        let nothing = try OctetProcess.run(["calibrate", Self.example])
        #expect(nothing.status == 64 && nothing.stderr.contains("Give the data with --calibration-data"))
        let missingCache = try OctetProcess.run(["calibrate", Self.example, "--calibration-cache", folder.file("none.calib").path])
        #expect(missingCache.status == 1 && missingCache.stderr.contains("none.calib: no such cache, and no calibration data was given"))
        let overwrite = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--ranges-json", data])
        #expect(overwrite.status == 1 && overwrite.stderr.contains("refusing to overwrite the input"))
        let version = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--trt-version", "ten"])
        #expect(version.status == 64 && version.stderr.contains("TensorRT version 'ten' is not major.minor.patch"))
        let percentile = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--percentile", "120"])
        #expect(percentile.status == 64)
    }

    @Test func jsonSummaryAndTrtHeaders() throws {
        let folder = try TemporaryFolder()
        let data = try Self.data(in: folder)
        let result = try OctetProcess.run(["calibrate", Self.example, "--calibration-data", data, "--json", "--trt-version", "8.6.1",
                                           "--calibration-cache", folder.file("c.calib").path, "--calibration-method", "percentile", "--percentile", "99.9"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(summary?["samples"] as? Int == 9 && summary?["method"] as? String == "percentile 99.9")
        #expect((summary?["outliers"] as? [[String: Any]])?.count ?? 0 <= 10)
        #expect((summary?["nonFinite"] as? [[String: Any]])?.isEmpty == false && (summary?["peakMemoryBytes"] as? Int ?? 0) > 0)
        #expect(try Self.read(folder.file("c.calib")).hasPrefix("TRT-8601-EntropyCalibration2\n"))
    }

    @Test func misspelledInputNamesGetASuggestionInEveryCommand() throws {
        let folder = try TemporaryFolder()
        let ids = Tensor(shape: [1, 4], scalars: [Int64](repeating: 1, count: 4))
        let file = folder.file("typo.npz")
        try NPZArchive.write([("input_idz", ids), ("attention_mask", ids), ("token_type_ids", ids)], to: file)
        for command in [["calibrate"], ["data", "check"]] {
            let result = try OctetProcess.run(command + [Self.example, "--calibration-data", file.path])
            #expect(result.status == 1 && result.stderr.contains("'input_idz' is not an input of the model (did you mean 'input_ids'? its inputs are:"), "\(command)")
        }
        let run = try OctetProcess.run(["run", Self.example, "--load-inputs", file.path])
        #expect(run.status == 1 && run.stderr.contains("did you mean 'input_ids'?"))
    }
}
