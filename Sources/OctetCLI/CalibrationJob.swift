import Foundation
import OctetData
import OctetGraph
import OctetQuant
import OctetRuntime

/// Calibration as the commands run it: ranges from a usable TensorRT cache, from merged stats
/// files, or from a calibration run, and the files that go with them.
struct CalibrationJob {
    let model: String
    let data: CalibrationDataOptions
    let method: CalibrationMethodOptions
    let outputs: CalibrationOutputOptions
    let loadStats: [String]
    let shard: Shard?
    let progress: Progress
    /// Samples left out of calibration for evaluation (`convert --int8`).
    var heldOut: Shard? = nil

    /// What a job produced.
    struct Result {
        var ranges: [TensorRange]
        var statistics: CalibrationStatistics?
        var modelHash: String
        var summary: CalibrationSummary
        var notes: [String]
        /// Whether the ranges came from an existing cache (which is then left as it is).
        var fromCache: Bool
    }

    /// - Parameter preloaded: the model, when the caller already loaded it from ``model``.
    func run(preloaded: Model? = nil) throws -> Result {
        let start = DispatchTime.now().uptimeNanoseconds
        let modelURL = URL(fileURLWithPath: model)
        let loaded = try preloaded ?? Model.load(contentsOf: modelURL)
        let hash = try ModelHash.of(modelURL, model: loaded)
        let algorithm = method.algorithm
        let header = try outputs.header()
        try checkOutputs(modelURL)
        var notes: [String] = []
        var summary = CalibrationSummary(model: model, modelSHA256: hash, method: algorithm.description)

        if loadStats.isEmpty, let cachePath = outputs.calibrationCache, !outputs.forceRecalibrate,
           FileManager.default.fileExists(atPath: cachePath)
        {
            var reuse = try Self.reusableCache(at: URL(fileURLWithPath: cachePath), modelSHA256: hash, method: algorithm.description, header: header)
            if reuse.cache != nil, outputs.saveStats != nil {
                reuse = (nil, "--save-stats needs statistics, which a cache does not hold", ["\(cachePath) exists, but --save-stats needs statistics, which a cache does not hold: calibrating again"])
            }
            notes += reuse.notes
            if let cache = reuse.cache {
                summary.source = "cache"
                summary.tensors = cache.entries.count
                summary.seconds = Self.seconds(since: start)
                summary.peakMemoryBytes = ProcessMemory.peakResidentBytes()
                return Result(ranges: cache.entries.map(TensorRange.init(cacheEntry:)), statistics: nil, modelHash: hash,
                              summary: summary, notes: notes, fromCache: true)
            }
            if data.isEmpty {
                throw CLIError.message("\(cachePath): \(reuse.reason ?? "the cache cannot be used"), and no calibration data was given to calibrate again (--calibration-data)")
            }
        } else if data.isEmpty && loadStats.isEmpty {
            let cache = outputs.calibrationCache ?? "the cache"
            throw CLIError.message(outputs.forceRecalibrate
                ? "--force-recalibrate calibrates again, which needs calibration data (--calibration-data) for \(cache)"
                : "\(cache): no such cache, and no calibration data was given (--calibration-data)")
        }

        let statistics: CalibrationStatistics
        if !loadStats.isEmpty {
            let parts = try loadStats.map { path in (file: path, statistics: try StatsFile.read(URL(fileURLWithPath: path))) }
            for part in parts where part.statistics.modelHash != hash {
                throw StatsFileError.otherModel(file: part.file, fileHash: part.statistics.modelHash, modelHash: hash, model: model)
            }
            statistics = try CalibrationStatistics.merge(parts, order: loaded.graph.productionOrder)
            if !statistics.coversAllShards {
                notes.append("the stats files hold shards \(statistics.shards.joined(separator: ", ")) only: the ranges cover part of the data")
            }
            summary.source = "stats files"
        } else {
            let calibrator = Calibrator(model: loaded, modelHash: hash,
                                        options: .init(batchSize: data.batchSize, shard: shard, allowNonfinite: data.allowNonfinite, heldOut: heldOut))
            let session = try Session(model: loaded)
            let runStart = DispatchTime.now().uptimeNanoseconds
            summary.loadSeconds = Self.seconds(since: start)
            let run = try calibrator.calibrate(try data.open(), session: session) { done, total in
                let elapsed = Self.seconds(since: runStart)
                let rate = elapsed > 0 ? Double(done) / elapsed : 0
                let remaining = total.map { rate > 0 ? Double($0 - done) / rate : 0 }
                progress.update(String(format: "calibrating: %d/%@ samples, %.1f samples/s, ETA %@", done, total.map(String.init) ?? "?", rate,
                                       remaining.map(Self.duration) ?? "?"))
            }
            progress.finish()
            run.warnings.forEach(Console.warning)
            statistics = run.statistics
            summary.runSeconds = Self.seconds(since: runStart)
            summary.batchSize = run.batchSize
            summary.peakTensorBytes = run.peakTensorBytes
            summary.source = "calibration"
        }
        let softmaxOutputs = Self.softmaxOutputs(loaded.graph)
        let ranges = try statistics.ranges(algorithm, observedMaximum: softmaxOutputs)
        let keptMaximum = statistics.tensors.filter { softmaxOutputs.contains($0.name) }.count
        if keptMaximum > 0, algorithm != .minmax {
            let subject = keptMaximum == 1 ? "1 Softmax output keeps its" : "\(keptMaximum) Softmax outputs keep their"
            notes.append("\(subject) largest value as range (probabilities in [0, 1]: clipping the peaks flattens attention)")
        }
        summary.samples = statistics.data.samples
        summary.shards = statistics.shards
        summary.tensors = statistics.tensors.count
        summary.nonFinite = statistics.tensors.filter { $0.statistics.nonFinite > 0 }.map { .init(name: $0.name, values: $0.statistics.nonFinite) }
        summary.outliers = Array(ranges.filter { ($0.clippingRatio ?? 0) > 1 }
            .sorted { ($0.clippingRatio ?? 0, $1.name) > ($1.clippingRatio ?? 0, $0.name) }.prefix(10)
            .map { CalibrationSummary.Outlier(name: $0.name, absmax: Double($0.absmax ?? 0), amax: $0.amax, ratio: $0.clippingRatio ?? 1) })
        summary.seconds = Self.seconds(since: start)
        summary.peakMemoryBytes = ProcessMemory.peakResidentBytes()
        return Result(ranges: ranges, statistics: statistics, modelHash: hash, summary: summary, notes: notes, fromCache: false)
    }

    /// Outputs of the Softmax nodes in the graph and its subgraphs.
    static func softmaxOutputs(_ graph: Graph) -> Set<String> {
        var names = Set<String>()
        for node in graph.nodes {
            if node.opType == "Softmax", node.domain.isEmpty || node.domain == "ai.onnx" { names.formUnion(node.outputs) }
            for subgraph in node.attributes.flatMap(\.value.subgraphs) { names.formUnion(softmaxOutputs(subgraph)) }
        }
        return names
    }

    /// Writes the cache (unless it was reused), its sidecar, the stats file and the ranges, each atomically.
    /// - Returns: the summary, with the files written.
    func writeOutputs(_ result: Result) throws -> CalibrationSummary {
        var summary = result.summary
        if let path = outputs.saveStats, let statistics = result.statistics {
            try AtomicFile.write(try StatsFile.encode(statistics), to: URL(fileURLWithPath: path))
            summary.wrote.append(path)
        }
        if let path = outputs.calibrationCache, !result.fromCache {
            let url = URL(fileURLWithPath: path)
            let cache = CalibrationCache(ranges: result.ranges, header: try outputs.header())
            let sidecar = CacheSidecar(modelSHA256: result.modelHash, method: method.algorithm.description,
                                       dataFingerprint: result.statistics?.data.hex ?? "", samples: result.statistics?.data.samples ?? 0,
                                       header: cache.header)
            try AtomicFile.write(Data(cache.text.utf8), to: url)
            try AtomicFile.write(try sidecar.encoded(), to: CacheSidecar.url(for: url))
            summary.wrote += [path, CacheSidecar.url(for: url).path]
            summary.cacheEntries = cache.entries.count
        }
        if let path = outputs.rangesJson {
            let document = RangesDocument(model: model, modelSHA256: result.modelHash, method: method.algorithm.description,
                                          source: result.summary.source, tensors: result.ranges, weights: result.statistics?.weights ?? [])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try AtomicFile.write(try encoder.encode(document) + Data("\n".utf8), to: URL(fileURLWithPath: path))
            summary.wrote.append(path)
        }
        return summary
    }

    /// Refuses outputs that would replace the model, its data or the stats files read.
    func checkOutputs(_ modelURL: URL) throws {
        let scripts = data.dataLoaderScript.map { $0.split(separator: ":").first.map(String.init) ?? $0 }
        let inputs = [modelURL] + (data.calibrationData + scripts + loadStats).map { URL(fileURLWithPath: $0) }
        for path in [outputs.calibrationCache, outputs.saveStats, outputs.rangesJson].compactMap({ $0 }) {
            try OutputPath.check(URL(fileURLWithPath: path), notAnyOf: inputs)
        }
        if let cache = outputs.calibrationCache {
            try OutputPath.check(CacheSidecar.url(for: URL(fileURLWithPath: cache)), notAnyOf: inputs)
        }
    }

    /// Whether an existing cache can be used: a cache with a fitting sidecar, or one without a
    /// sidecar (written by TensorRT or another tool), is used; otherwise the reason is given.
    static func reusableCache(at url: URL, modelSHA256: String, method: String, header: String) throws
        -> (cache: CalibrationCache?, reason: String?, notes: [String])
    {
        try InputFileError.requireRegular(url)
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw CacheError.unreadable(file: url.path, reason: "cannot be read as text (\(error.localizedDescription)); pass --force-recalibrate to replace it")
        }
        let cache = try CalibrationCache.parse(text, file: url.path)
        guard let sidecar = try CacheSidecar.read(CacheSidecar.url(for: url)) else {
            return (cache, nil, ["\(url.path) has no Octet sidecar (\(url.lastPathComponent).json): using its \(cache.entries.count) ranges as they are (header \(cache.header))"])
        }
        if let reason = sidecar.mismatch(modelSHA256: modelSHA256, method: method, header: header) {
            return (nil, reason, ["not using \(url.path): \(reason); calibrating again"])
        }
        return (cache, nil, ["using the ranges of \(url.path) (\(cache.entries.count) tensors, \(sidecar.method), \(sidecar.samples) samples); --force-recalibrate calibrates again"])
    }

    static func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    static func duration(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.0f s", seconds) : String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60)
    }
}
