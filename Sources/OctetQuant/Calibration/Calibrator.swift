import Foundation
import OctetData
import OctetGraph
import OctetRuntime

/// Runs the FP32 model over calibration data and collects ``CalibrationStatistics``.
///
/// Two passes: ``validate(_:progress:)`` reads every sample of the shard once, checks it
/// against the model (every problem at once) and fingerprints it; loader-script samples are
/// spooled to a temporary folder so the script runs once. ``collect(_:progress:)`` then reads
/// the samples again, batches them and runs the model with a ``StatisticsCollector`` observing
/// every tensor. Memory is the run in flight plus the histograms, whatever the sample count.
public final class Calibrator {
    /// How calibration reads and runs the data.
    public struct Options: Sendable {
        /// Samples per run (`nil`: the model's fixed batch size, else 1).
        public var batchSize: Int?
        /// Only samples of this shard.
        public var shard: Shard?
        /// Accept NaN and infinity in float inputs.
        public var allowNonfinite: Bool

        /// Creates options.
        public init(batchSize: Int? = nil, shard: Shard? = nil, allowNonfinite: Bool = false) {
            self.batchSize = batchSize
            self.shard = shard
            self.allowNonfinite = allowNonfinite
        }
    }

    /// Data that passed validation, ready for the statistics pass.
    public final class ValidatedData {
        enum Segment {
            case source(CalibrationSource, firstIndex: Int)
            case spool([(index: Int, file: URL)])
        }

        let segments: [Segment]
        /// Fingerprint of the shard's samples.
        public let fingerprint: DataFingerprint
        /// Samples in the shard.
        public var samples: Int { fingerprint.samples }
        /// Samples per run.
        public let batchSize: Int
        /// Warnings from validation (one per kind and input).
        public let warnings: [String]
        let spoolFolder: URL?

        init(segments: [Segment], fingerprint: DataFingerprint, batchSize: Int, warnings: [String], spoolFolder: URL?) {
            self.segments = segments
            self.fingerprint = fingerprint
            self.batchSize = batchSize
            self.warnings = warnings
            self.spoolFolder = spoolFolder
        }

        deinit {
            if let spoolFolder {
                try? FileManager.default.removeItem(at: spoolFolder)
                TemporaryPaths.unregister(spoolFolder)
            }
        }
    }

    /// Progress of a pass: samples done and the total when known.
    public typealias ProgressHandler = (_ done: Int, _ total: Int?) -> Void

    /// The model calibrated.
    public let model: Model
    /// Its content hash (``ModelHash``).
    public let modelHash: String
    /// The options.
    public let options: Options
    /// Largest live intermediate memory of any run, in bytes.
    public private(set) var peakTensorBytes = 0

    /// - Parameters:
    ///   - model: a validated model.
    ///   - modelHash: its ``ModelHash``.
    ///   - options: batching, sharding and input checks.
    public init(model: Model, modelHash: String, options: Options = Options()) {
        self.model = model
        self.modelHash = modelHash
        self.options = options
    }

    /// Pass 1: checks every sample of the shard and fingerprints it.
    /// - Throws: ``DataError/invalid(problems:)`` listing every problem; read errors of the data.
    public func validate(_ data: CalibrationData, progress: ProgressHandler = { _, _ in }) throws -> ValidatedData {
        var validator = FeedValidator(model: model, allowNonfinite: options.allowNonfinite, recordStatistics: false)
        data.sources.forEach { validator.checkRowCounts($0) }
        var problems: [String] = []
        var batchSize = 1
        do { batchSize = try RunBatcher.batchSize(for: model, requested: options.batchSize) } catch DataError.invalid(let list) {
            problems += list
        }
        var fingerprint = DataFingerprint()
        var segments: [ValidatedData.Segment] = []
        var spoolFolder: URL?
        let total = data.sampleCount.map { count in options.shard.map { shard in (0..<count).filter(shard.contains).count } ?? count }
        var index = 0
        var done = 0
        for source in data.sources {
            let first = index
            let spools = source is LoaderScriptSource
            var spooled: [(index: Int, file: URL)] = []
            let stream = try source.stream(firstIndex: first)
            while let sample = try stream.next() {
                index = sample.index + 1
                guard options.shard?.contains(sample.index) ?? true else { continue }
                done += 1
                progress(done, total)
                guard let feeds = validator.check(sample) else { continue }
                fingerprint.add(index: sample.index, feeds: feeds)
                if spools {
                    let folder = try spoolFolder ?? Self.makeSpoolFolder()
                    spoolFolder = folder
                    let file = folder.appendingPathComponent(String(format: "sample_%09d.npz", sample.index))
                    try NPZArchive.write(sample.values.keys.sorted().compactMap { key in sample.values[key].map { (key, $0) } }, to: file)
                    spooled.append((sample.index, file))
                }
            }
            segments.append(spools ? .spool(spooled) : .source(source, firstIndex: first))
        }
        if validator.sampleCount == 0 {
            if let shard = options.shard, index > 0 {
                problems.append("shard \(shard) holds no samples: the data has \(index) sample\(index == 1 ? "" : "s")")
            } else {
                validator.noSamples(in: data)
            }
        }
        problems = validator.problems + problems
        let validated = ValidatedData(segments: segments, fingerprint: fingerprint, batchSize: batchSize,
                                      warnings: validator.warnings, spoolFolder: spoolFolder)
        if !problems.isEmpty { throw DataError.invalid(problems: problems) }
        return validated
    }

    static func makeSpoolFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("octet-spool-\(UUID().uuidString)")
        TemporaryPaths.register(folder)
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw DataError.unrecognized(path: folder.path, reason: "cannot create a folder for loader-script samples: \(error.localizedDescription)")
        }
        return folder
    }

    /// Pass 2: runs the model over the validated samples and collects statistics.
    /// - Parameters:
    ///   - data: the result of ``validate(_:progress:)``.
    ///   - session: a session of ``model`` (created when `nil`).
    ///   - progress: called after each run with the samples done.
    /// - Throws: ``RuntimeError`` naming the node that failed; ``DataError`` for samples that cannot be batched.
    public func collect(_ data: ValidatedData, session: Session? = nil, progress: ProgressHandler = { _, _ in }) throws -> CalibrationStatistics {
        let session = try session ?? Session(model: model)
        let collector = StatisticsCollector()
        var validator = FeedValidator(model: model, allowNonfinite: options.allowNonfinite, recordStatistics: false)
        var batcher = RunBatcher(batchSize: data.batchSize)
        var done = 0
        func run(_ feeds: [String: Tensor]?) throws {
            guard let feeds else { return }
            _ = try session.run(feeds, observer: collector.observer)
            peakTensorBytes = max(peakTensorBytes, session.peakBytes)
            done += feeds.values.first?.shape.first ?? 1
            progress(done, data.samples)
        }
        func take(_ sample: RawSample) throws {
            guard options.shard?.contains(sample.index) ?? true, let feeds = validator.check(sample) else { return }
            try run(try batcher.add(feeds, index: sample.index))
        }
        for segment in data.segments {
            switch segment {
            case let .source(source, first):
                let stream = try source.stream(firstIndex: first)
                while let sample = try stream.next() { try take(sample) }
            case let .spool(files):
                for (index, file) in files {
                    let arrays = try NPZArchive.readAll(file)
                    try take(RawSample(values: Dictionary(arrays.map { ($0.key, $0.tensor) }, uniquingKeysWith: { a, _ in a }),
                                       files: Dictionary(arrays.map { ($0.key, file.path) }, uniquingKeysWith: { a, _ in a }), index: index))
                }
            }
        }
        try run(try batcher.flush())
        let order = model.graph.productionOrder
        let position = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let names = collector.tensors.keys.sorted { (position[$0] ?? .max, $0) < (position[$1] ?? .max, $1) }
        return CalibrationStatistics(
            modelHash: modelHash, inputs: CalibrationStatistics.inputDescriptions(model), data: data.fingerprint,
            shards: options.shard.map { [$0.description] } ?? [], octetVersion: OctetVersion.current,
            tensors: names.map { ($0, collector.tensors[$0] ?? TensorStatistics()) },
            weights: WeightStatistics.collect(from: model.graph))
    }
}

/// Octet's version, recorded in stats files and cache sidecars.
public enum OctetVersion {
    /// The version of this build.
    public static let current = "0.1.0"
}
