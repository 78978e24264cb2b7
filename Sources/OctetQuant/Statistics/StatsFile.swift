import Foundation
import OctetData
import OctetGraph

/// The stats file (`--save-stats`, `--load-stats`): a JSON document, version 1.
///
/// ```
/// {"format": "octet-stats", "version": 1, "octetVersion": "0.1.0",
///  "model": {"sha256": "…", "inputs": ["input_ids: int64[batch, sequence]", …]},
///  "data": {"fingerprint": "<64 hex digits>", "samples": 64, "shards": ["0/4"]},
///  "tensors": [{"name": "…", "count": 4096, "nonFinite": 0, "min": -1.5, "max": 2.25,
///               "absmax": 2.25, "binExponent": -10, "counts": "<base64>"}, …],
///  "weights": [{"name": "…", "node": "…", "opType": "Conv", "axis": 0, "absmax": 0.5,
///               "channelAbsmax": [0.5, …]}, …]}
/// ```
/// `counts` holds the histogram's 2,048 bin counts as little-endian unsigned 64-bit integers,
/// base64-encoded, with trailing empty bins left out (`numpy.frombuffer(base64.b64decode(s),
/// "<u8")`); bin k covers `[k, k+1) · 2^binExponent`. `binExponent` is null while only zeros
/// were seen; `min`/`max` are null when no finite value was.
public enum StatsFile {
    /// The `format` value.
    public static let format = "octet-stats"
    /// The version this Octet writes and reads.
    public static let version = 1

    struct Document: Codable {
        struct ModelPart: Codable {
            var sha256: String
            var inputs: [String]
        }

        struct DataPart: Codable {
            var fingerprint: String
            var samples: Int
            var shards: [String]
        }

        struct TensorPart: Codable {
            var name: String
            var count: Int64
            var nonFinite: Int64
            @EncodedAsNull var min: Float?
            @EncodedAsNull var max: Float?
            var absmax: Float
            @EncodedAsNull var binExponent: Int?
            var counts: String
        }

        var format: String
        var version: Int
        var octetVersion: String
        var model: ModelPart
        var data: DataPart
        var tensors: [TensorPart]
        var weights: [WeightStatistics]
    }

    /// The file's bytes (deterministic: sorted keys, fixed layout).
    public static func encode(_ statistics: CalibrationStatistics) throws -> Data {
        let tensors = statistics.tensors.map { name, stats -> Document.TensorPart in
            let used = (stats.histogram.counts.lastIndex { $0 != 0 } ?? -1) + 1
            var bytes = Data(capacity: used * 8)
            for count in stats.histogram.counts.prefix(used) { withUnsafeBytes(of: UInt64(count).littleEndian) { bytes.append(contentsOf: $0) } }
            return Document.TensorPart(name: name, count: stats.count, nonFinite: stats.nonFinite, min: stats.minimum,
                                       max: stats.maximum, absmax: stats.absmax, binExponent: stats.histogram.exponent,
                                       counts: bytes.base64EncodedString())
        }
        let document = Document(
            format: format, version: version, octetVersion: statistics.octetVersion,
            model: .init(sha256: statistics.modelHash, inputs: statistics.inputs),
            data: .init(fingerprint: statistics.data.hex, samples: statistics.data.samples, shards: statistics.shards),
            tensors: tensors, weights: statistics.weights)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(document) + Data("\n".utf8)
    }

    /// Reads a stats file.
    /// - Parameters:
    ///   - data: the file's bytes.
    ///   - file: its path, for errors.
    /// - Throws: ``StatsFileError`` naming the file (and the tensor) for anything malformed.
    public static func decode(_ data: Data, file: String) throws -> CalibrationStatistics {
        let document: Document
        do { document = try JSONDecoder().decode(Document.self, from: data) } catch {
            if let header = try? JSONDecoder().decode(Header.self, from: data), let other = header.format, other != format {
                throw StatsFileError.malformed(file: file, reason: "not an Octet stats file (format '\(other)')")
            }
            throw StatsFileError.malformed(file: file, reason: "not an Octet stats file: \(Self.describe(error))")
        }
        guard document.format == format else {
            throw StatsFileError.malformed(file: file, reason: "not an Octet stats file (format '\(document.format)')")
        }
        guard document.version == version else {
            throw StatsFileError.malformed(file: file, reason: "stats file version \(document.version); this Octet reads version \(version)")
        }
        var tensors: [(String, TensorStatistics)] = []
        var names = Set<String>()
        for part in document.tensors {
            guard names.insert(part.name).inserted else { throw StatsFileError.malformed(file: file, reason: "tensor '\(part.name)' appears twice") }
            guard let bytes = Data(base64Encoded: part.counts), bytes.count % 8 == 0, bytes.count <= AbsHistogram.binCount * 8 else {
                throw StatsFileError.malformed(file: file, reason: "tensor '\(part.name)': counts are not base64 of up to \(AbsHistogram.binCount) little-endian u64 values")
            }
            var counts: [Int64] = []
            counts.reserveCapacity(bytes.count / 8)
            for offset in stride(from: 0, to: bytes.count, by: 8) {
                var value: UInt64 = 0
                for byte in 0..<8 { value |= UInt64(bytes[bytes.startIndex + offset + byte]) << (8 * byte) }
                guard value <= UInt64(AbsHistogram.largestCount) else {
                    throw StatsFileError.malformed(file: file, reason: "tensor '\(part.name)': bin count \(value) is out of range")
                }
                counts.append(Int64(value))
            }
            do {
                let histogram = try AbsHistogram(exponent: part.binExponent, counts: counts, maxAbs: part.absmax, nonFinite: part.nonFinite)
                tensors.append((part.name, try TensorStatistics(count: part.count, minimum: part.min, maximum: part.max, histogram: histogram)))
            } catch let error as StatisticsError {
                throw StatsFileError.malformed(file: file, reason: "tensor '\(part.name)': \(error.localizedDescription)")
            }
        }
        let fingerprint: DataFingerprint
        do { fingerprint = try DataFingerprint(hex: document.data.fingerprint, samples: document.data.samples, file: file) } catch {
            throw StatsFileError.malformed(file: file, reason: "data.fingerprint is not 64 hex digits")
        }
        for shard in document.data.shards where Shard(shard) == nil {
            throw StatsFileError.malformed(file: file, reason: "shard '\(shard)' is not K/N")
        }
        return CalibrationStatistics(
            modelHash: document.model.sha256, inputs: document.model.inputs, data: fingerprint, shards: document.data.shards,
            octetVersion: document.octetVersion, tensors: tensors, weights: document.weights)
    }

    /// Reads a stats file from disk.
    public static func read(_ url: URL) throws -> CalibrationStatistics {
        try InputFileError.requireRegular(url)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw StatsFileError.malformed(file: url.path, reason: "cannot be read (\(error.localizedDescription))")
        }
        return try decode(data, file: url.path)
    }

    private struct Header: Decodable { var format: String? }

    static func describe(_ error: Error) -> String {
        guard let error = error as? DecodingError else { return error.localizedDescription }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case let .keyNotFound(key, context): return "missing key '\(key.stringValue)' at \(path(context).isEmpty ? "top level" : path(context))"
        case let .typeMismatch(_, context), let .valueNotFound(_, context): return "unexpected value at \(path(context)): \(context.debugDescription)"
        case let .dataCorrupted(context): return "invalid JSON\(path(context).isEmpty ? "" : " at \(path(context))"): \(context.debugDescription)"
        @unknown default: return error.localizedDescription
        }
    }
}

/// Errors reading or combining stats files.
public enum StatsFileError: LocalizedError, Equatable {
    /// A file that is not a valid stats file.
    case malformed(file: String, reason: String)
    /// Statistics of another model.
    case otherModel(file: String, fileHash: String, modelHash: String, model: String)
    /// The same shard twice.
    case repeatedShard(file: String, shard: String)
    /// No files given.
    case noFiles

    public var errorDescription: String? {
        switch self {
        case let .malformed(file, reason): "\(file): \(reason)"
        case let .otherModel(file, fileHash, modelHash, model):
            "\(file): these statistics are of another model (sha256 \(fileHash)); \(model) has sha256 \(modelHash)"
        case let .repeatedShard(file, shard): "\(file): shard \(shard) was already merged from another stats file"
        case .noFiles: "no stats files were given"
        }
    }
}

/// A shard `K/N` of the data: samples i with i mod N = K.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// This shard's index, 0 ≤ K < N.
    public var index: Int
    /// Number of shards.
    public var count: Int

    /// Parses `K/N`; `nil` unless 0 ≤ K < N.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (0..<count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// Whether sample `sample` belongs to this shard.
    public func contains(_ sample: Int) -> Bool { sample % count == index }

    public var description: String { "\(index)/\(count)" }
}
