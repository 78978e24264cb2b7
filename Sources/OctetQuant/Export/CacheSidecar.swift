import Foundation

/// What Octet records beside a TensorRT calibration cache it writes (`FILE.json`), so a later
/// run can tell whether the cache still fits the model and the method.
public struct CacheSidecar: Codable, Sendable, Equatable {
    /// The `format` value.
    public static let formatName = "octet-calibration-cache"

    /// Always ``formatName``.
    public var format: String
    /// Sidecar version (1).
    public var version: Int
    /// The model's ``ModelHash``.
    public var modelSHA256: String
    /// The range method (`entropy`, `minmax`, `percentile 99.99`, `mse`).
    public var method: String
    /// The data fingerprint (``OctetData/DataFingerprint/hex``).
    public var dataFingerprint: String
    /// Samples calibrated on.
    public var samples: Int
    /// The cache's header line.
    public var header: String
    /// The Octet version that wrote it.
    public var octetVersion: String

    /// Creates a sidecar.
    public init(modelSHA256: String, method: String, dataFingerprint: String, samples: Int, header: String) {
        format = Self.formatName
        version = 1
        self.modelSHA256 = modelSHA256
        self.method = method
        self.dataFingerprint = dataFingerprint
        self.samples = samples
        self.header = header
        octetVersion = OctetVersion.current
    }

    /// The sidecar's path for a cache file.
    public static func url(for cache: URL) -> URL { cache.deletingLastPathComponent().appendingPathComponent(cache.lastPathComponent + ".json") }

    /// The file's bytes (sorted keys).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// Reads a sidecar; `nil` when the file does not exist.
    /// - Throws: ``CacheError/unreadable(file:reason:)`` for a file that is not a sidecar.
    public static func read(_ url: URL) throws -> CacheSidecar? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            let sidecar = try JSONDecoder().decode(CacheSidecar.self, from: Data(contentsOf: url))
            guard sidecar.format == formatName else { throw CacheError.unreadable(file: url.path, reason: "not an Octet cache sidecar") }
            return sidecar
        } catch let error as CacheError {
            throw error
        } catch {
            throw CacheError.unreadable(file: url.path, reason: "not an Octet cache sidecar (\(StatsFile.describe(error))); remove it or pass --force-recalibrate")
        }
    }

    /// Why a cache with this sidecar does not fit `modelSHA256` and `method`, or `nil` when it does.
    public func mismatch(modelSHA256: String, method: String, header: String) -> String? {
        if self.modelSHA256 != modelSHA256 {
            return "it was calibrated for another model (sha256 \(self.modelSHA256), the model has \(modelSHA256))"
        }
        if self.method != method { return "it was calibrated with \(self.method), not \(method)" }
        if self.header != header { return "its header is \(self.header), not \(header)" }
        return nil
    }
}
