import Foundation
import OctetData
import OctetGraph

/// Everything one calibration run (or a merge of several) learned, with what it was learned on:
/// the model's content hash, its inputs, the data fingerprint and the shards it covers.
public struct CalibrationStatistics: Sendable, Equatable {
    /// SHA-256 of the model file and its external data (``ModelHash``).
    public var modelHash: String
    /// The model's runtime inputs as `name: dtype[shape]`.
    public var inputs: [String]
    /// Fingerprint of the samples calibrated on.
    public var data: DataFingerprint
    /// The shards covered (`K/N`); empty for a full run.
    public var shards: [String]
    /// The Octet version that collected the statistics.
    public var octetVersion: String
    /// Activation statistics in production order.
    public var tensors: [(name: String, statistics: TensorStatistics)]
    /// Weight statistics in node order.
    public var weights: [WeightStatistics]

    /// Creates statistics.
    public init(modelHash: String, inputs: [String], data: DataFingerprint, shards: [String], octetVersion: String,
                tensors: [(name: String, statistics: TensorStatistics)], weights: [WeightStatistics]) {
        self.modelHash = modelHash
        self.inputs = inputs
        self.data = data
        self.shards = shards
        self.octetVersion = octetVersion
        self.tensors = tensors
        self.weights = weights
    }

    public static func == (lhs: CalibrationStatistics, rhs: CalibrationStatistics) -> Bool {
        lhs.modelHash == rhs.modelHash && lhs.inputs == rhs.inputs && lhs.data == rhs.data && lhs.shards == rhs.shards
            && lhs.octetVersion == rhs.octetVersion && lhs.weights == rhs.weights
            && lhs.tensors.map(\.name) == rhs.tensors.map(\.name) && lhs.tensors.map(\.statistics) == rhs.tensors.map(\.statistics)
    }

    /// The model's inputs as stats files and sidecars record them.
    public static func inputDescriptions(_ model: Model) -> [String] {
        model.graph.runtimeInputs.map { input in
            let shape = input.type.shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "[?]"
            return "\(input.name): \(input.type.dtype?.name ?? "?")\(shape)"
        }
    }

    /// Merges statistics of the same model from several runs or shards (exact), listing tensors
    /// in `order` (names it lacks go last, in first-seen order).
    /// - Parameters:
    ///   - parts: statistics with their file names (for errors).
    ///   - order: the model's ``Graph/productionOrder``.
    /// - Throws: ``StatsFileError`` when the parts are of different models or repeat a shard.
    public static func merge(_ parts: [(file: String, statistics: CalibrationStatistics)], order: [String]) throws -> CalibrationStatistics {
        guard let first = parts.first else { throw StatsFileError.noFiles }
        var shards: [String] = []
        var data = DataFingerprint()
        var byName: [String: TensorStatistics] = [:]
        var firstSeen: [String] = []
        for (file, part) in parts {
            guard part.modelHash == first.statistics.modelHash else {
                throw StatsFileError.otherModel(file: file, fileHash: part.modelHash, modelHash: first.statistics.modelHash, model: first.file)
            }
            for shard in part.shards {
                if shards.contains(shard) { throw StatsFileError.repeatedShard(file: file, shard: shard) }
                shards.append(shard)
            }
            data.merge(part.data)
            for (name, statistics) in part.tensors {
                if byName[name] == nil { firstSeen.append(name) }
                byName[name, default: TensorStatistics()].merge(statistics)
            }
        }
        let position = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let names = firstSeen.filter { position[$0] != nil }.sorted { position[$0, default: 0] < position[$1, default: 0] }
            + firstSeen.filter { position[$0] == nil }
        return CalibrationStatistics(
            modelHash: first.statistics.modelHash, inputs: first.statistics.inputs, data: data, shards: Self.sortShards(shards),
            octetVersion: first.statistics.octetVersion, tensors: names.map { ($0, byName[$0] ?? TensorStatistics()) },
            weights: first.statistics.weights)
    }

    /// Shards `K/N` sorted by N, then K.
    static func sortShards(_ shards: [String]) -> [String] {
        shards.sorted { a, b in
            let x = a.split(separator: "/").compactMap { Int($0) }, y = b.split(separator: "/").compactMap { Int($0) }
            return (x.last ?? 0, x.first ?? 0) < (y.last ?? 0, y.first ?? 0)
        }
    }

    /// Whether the shards cover the whole data set (no shards, or all K of one N).
    public var coversAllShards: Bool {
        guard let count = shards.first.flatMap({ $0.split(separator: "/").last }).flatMap({ Int($0) }) else { return true }
        return Set(shards) == Set((0..<count).map { "\($0)/\(count)" })
    }
}
