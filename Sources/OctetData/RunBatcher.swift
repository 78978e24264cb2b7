import Foundation
import OctetGraph

/// Groups validated samples into model runs of `batchSize` samples, concatenated on the batch
/// axis. Batching is only an optimization: a run of N samples gives the same per-sample values
/// as N runs of one.
public struct RunBatcher {
    /// Samples per run.
    public let batchSize: Int
    private var pending: [[String: Tensor]] = []
    private var pendingIndices: [Int] = []

    /// - Parameter batchSize: samples per run (≥ 1).
    public init(batchSize: Int) { self.batchSize = max(1, batchSize) }

    /// The batch size a model implies: its inputs' shared static leading dimension when that is
    /// larger than 1 (rows must then be grouped), else `requested` (default 1).
    /// - Throws: ``DataError`` when `requested` contradicts a static batch dimension.
    public static func batchSize(for model: Model, requested: Int?) throws -> Int {
        let leading = Set(model.graph.runtimeInputs.compactMap { $0.type.shape?.first?.fixedSize })
        let dynamic = model.graph.runtimeInputs.contains { input in input.type.shape.map { $0.first?.fixedSize == nil } ?? true }
        if let fixed = leading.first, leading.count == 1, !dynamic, fixed > 1 || requested != nil {
            if let requested, requested != fixed {
                throw DataError.invalid(problems: ["--batch-size \(requested) contradicts the model's fixed batch dimension \(fixed)"])
            }
            return fixed
        }
        return requested ?? 1
    }

    /// Adds a sample's feeds; returns a full run when one is ready.
    /// - Throws: ``DataError`` when samples of one run differ outside the batch axis.
    public mutating func add(_ feeds: [String: Tensor], index: Int) throws -> [String: Tensor]? {
        pending.append(feeds)
        pendingIndices.append(index)
        return pending.count == batchSize ? try flush() : nil
    }

    /// The last, possibly smaller run, if any samples are left.
    public mutating func flush() throws -> [String: Tensor]? {
        guard let first = pending.first else { return nil }
        defer {
            pending.removeAll()
            pendingIndices.removeAll()
        }
        if pending.count == 1 { return first }
        var run: [String: Tensor] = [:]
        for name in first.keys.sorted() {
            let parts = pending.compactMap { $0[name] }
            let shapes = parts.map { Array($0.shape.dropFirst()) }
            guard Set(shapes.map { "\($0)" }).count == 1, parts.allSatisfy({ $0.dtype == parts[0].dtype && $0.rank >= 1 }) else {
                throw DataError.invalid(problems: [
                    "input '\(name)': samples \(pendingIndices.map(String.init).joined(separator: ", ")) differ in shape outside the batch axis (\(parts.map(\.shape))); use --batch-size 1",
                ])
            }
            run[name] = try Self.concatenate(parts)
        }
        return run
    }

    static func concatenate(_ parts: [Tensor]) throws -> Tensor {
        let shape = [parts.reduce(0) { $0 + $1.shape[0] }] + Array(parts[0].shape.dropFirst())
        var bytes = [UInt8]()
        bytes.reserveCapacity(parts.reduce(0) { $0 + $1.byteCount })
        for part in parts { part.withUnsafeBytes { bytes.append(contentsOf: $0) } }
        return try Tensor(dtype: parts[0].dtype, shape: shape, bytes: bytes)
    }
}
