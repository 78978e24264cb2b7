import Foundation
import OctetData
import OctetGraph
import OctetRuntime

/// Runs the FP32 model over calibration data and collects ``CalibrationStatistics``.
///
/// The data is read once, by a reader thread that checks every sample against the model,
/// fingerprints it and hands it over through a short queue; the calling thread batches the
/// samples and runs the model with a ``StatisticsCollector`` observing every tensor, which bins
/// on a worker queue. Reading, checking and binning thus overlap the model runs. Nothing is computed from data that failed
/// validation: at the first sample that does not fit, the model stops, the reader goes on to
/// the end to collect every problem, and ``calibrate(_:session:progress:)`` throws them all.
/// Memory is the queued samples, the run in flight and the histograms, whatever the number of
/// samples; a loader script runs once.
public final class Calibrator {
    /// How calibration reads and runs the data.
    public struct Options: Sendable {
        /// Samples per run (`nil`: the model's fixed batch size, else 1).
        public var batchSize: Int?
        /// Only samples of this shard.
        public var shard: Shard?
        /// Accept NaN and infinity in float inputs.
        public var allowNonfinite: Bool
        /// Samples held out of calibration (for evaluation), if any.
        public var heldOut: Shard?

        /// Creates options.
        public init(batchSize: Int? = nil, shard: Shard? = nil, allowNonfinite: Bool = false, heldOut: Shard? = nil) {
            self.batchSize = batchSize
            self.shard = shard
            self.allowNonfinite = allowNonfinite
            self.heldOut = heldOut
        }

        /// Whether sample `index` is calibrated on.
        func uses(_ index: Int) -> Bool {
            (shard?.contains(index) ?? true) && !(heldOut?.contains(index) ?? false)
        }
    }

    /// What a calibration run produced besides the statistics.
    public struct Run {
        /// The statistics.
        public var statistics: CalibrationStatistics
        /// Samples per model run.
        public var batchSize: Int
        /// Warnings from validation (one per kind and input).
        public var warnings: [String]
        /// Largest live intermediate memory of any model run, in bytes.
        public var peakTensorBytes: Int
    }

    /// Progress: samples done and the total when known.
    public typealias ProgressHandler = (_ done: Int, _ total: Int?) -> Void

    /// The model calibrated.
    public let model: Model
    /// Its content hash (``ModelHash``).
    public let modelHash: String
    /// The options.
    public let options: Options

    /// Samples read ahead of the model.
    static let readAhead = 2

    /// - Parameters:
    ///   - model: a validated model.
    ///   - modelHash: its ``ModelHash``.
    ///   - options: batching, sharding and input checks.
    public init(model: Model, modelHash: String, options: Options = Options()) {
        self.model = model
        self.modelHash = modelHash
        self.options = options
    }

    /// What the reader thread found.
    private final class ReaderResult: @unchecked Sendable {
        var fingerprint = DataFingerprint()
        var problems: [String] = []
        var warnings: [String] = []
        var error: Error?
    }

    /// Reads, checks and runs every sample of the shard, collecting statistics.
    /// - Parameters:
    ///   - data: the calibration data.
    ///   - session: a session of ``model`` (created when `nil`).
    ///   - progress: called after each model run.
    /// - Throws: ``DataError/invalid(problems:)`` listing every problem of the data; read errors;
    ///   ``RuntimeError`` naming the node that failed.
    public func calibrate(_ data: CalibrationData, session: Session? = nil, progress: ProgressHandler = { _, _ in }) throws -> Run {
        let session = try session ?? Session(model: model)
        var batchProblems: [String] = []
        var batchSize = 1
        do { batchSize = try RunBatcher.batchSize(for: model, requested: options.batchSize) } catch DataError.invalid(let list) {
            batchProblems += list
        }
        let total = data.sampleCount.map { count in (0..<count).filter(options.uses).count }
        let queue = FeedQueue(capacity: Self.readAhead)
        let result = ReaderResult()
        let finished = DispatchSemaphore(value: 0)
        let reader = Thread { [model, options] in
            defer {
                queue.finish()
                finished.signal()
            }
            Self.read(data, model: model, options: options, into: queue, result: result)
        }
        reader.stackSize = 8 << 20
        reader.start()

        let collector = StatisticsCollector(graph: model.graph, overlapped: true)
        var batcher = RunBatcher(batchSize: batchSize)
        var done = 0
        var peak = 0
        var failure: Error?
        func run(_ feeds: [String: Tensor]?) throws {
            guard let feeds else { return }
            collector.startRun()
            _ = try session.run(feeds, observer: collector.observer)
            peak = max(peak, session.peakBytes)
            done += feeds.values.first?.shape.first ?? 1
            progress(done, total)
        }
        do {
            if !batchProblems.isEmpty { queue.halt() }
            while let item = queue.pop() { try run(try batcher.add(item.feeds, index: item.index)) }
            if !queue.isHalted { try run(try batcher.flush()) }
        } catch {
            failure = error
            if case DataError.invalid = error { queue.halt() } else { queue.cancel() }
        }
        finished.wait()
        if let error = result.error { throw error }
        if case DataError.invalid(let list)? = failure { batchProblems += list } else if let failure { throw failure }
        let problems = result.problems + batchProblems
        if !problems.isEmpty { throw DataError.invalid(problems: problems) }

        let order = model.graph.productionOrder
        let position = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let collected = collector.tensors
        let names = collected.keys.sorted { (position[$0] ?? .max, $0) < (position[$1] ?? .max, $1) }
        let statistics = CalibrationStatistics(
            modelHash: modelHash, inputs: CalibrationStatistics.inputDescriptions(model), data: result.fingerprint,
            shards: options.shard.map { [$0.description] } ?? [], octetVersion: OctetVersion.current,
            tensors: names.map { ($0, collected[$0] ?? TensorStatistics()) },
            weights: WeightStatistics.collect(from: model.graph))
        return Run(statistics: statistics, batchSize: batchSize, warnings: result.warnings, peakTensorBytes: peak)
    }

    /// The reader thread: checks every sample of the shard, fingerprints the valid ones and hands
    /// them over until one fails (then it only goes on checking, to report every problem).
    private static func read(_ data: CalibrationData, model: Model, options: Options, into queue: FeedQueue, result: ReaderResult) {
        var validator = FeedValidator(model: model, allowNonfinite: options.allowNonfinite, recordStatistics: false)
        data.sources.forEach { validator.checkRowCounts($0) }
        if !validator.problems.isEmpty { queue.halt() }
        var seen = 0
        do {
            try data.forEach { sample in
                if queue.isCancelled { return false }
                seen = sample.index + 1
                guard options.uses(sample.index) else { return true }
                guard let feeds = validator.check(sample) else {
                    queue.halt()
                    return true
                }
                result.fingerprint.add(index: sample.index, feeds: feeds)
                // A halted queue means the model stopped (an error, or an earlier bad sample):
                // keep checking so every problem is reported.
                _ = queue.push(FeedQueue.Item(index: sample.index, feeds: feeds))
                return true
            }
        } catch {
            result.error = error
            queue.halt()
            return
        }
        if queue.isCancelled { return }
        if validator.sampleCount == 0 {
            if let shard = options.shard, seen > 0 {
                result.problems.append("shard \(shard) holds no samples: the data has \(seen) sample\(seen == 1 ? "" : "s")")
            } else {
                validator.noSamples(in: data)
            }
            queue.halt()
        }
        result.problems = validator.problems + result.problems
        result.warnings = validator.warnings
    }
}

/// Octet's version, recorded in stats files and cache sidecars.
public enum OctetVersion {
    /// The version of this build.
    public static let current = "0.1.0"
}
