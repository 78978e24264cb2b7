import Foundation
import OctetGraph

/// A fingerprint of calibration data that merges across shards: each sample's SHA-256 (over its
/// index and, per input in name order, the name, type, shape and bytes) is read as four
/// little-endian 64-bit words, and the fingerprint is their word-wise sum modulo 2^64. The
/// shards of a data set therefore add up to the fingerprint of the whole.
public struct DataFingerprint: Codable, Sendable, Equatable {
    /// The four sums.
    public private(set) var words: [UInt64] = [0, 0, 0, 0]
    /// Samples added.
    public private(set) var samples: Int = 0

    /// An empty fingerprint.
    public init() {}

    /// A fingerprint as saved.
    /// - Parameters:
    ///   - hex: 64 hex digits (``hex``).
    ///   - samples: samples it covers.
    /// - Throws: ``DataError/malformed(file:reason:)`` when `hex` is not 64 hex digits.
    public init(hex: String, samples: Int, file: String) throws {
        let digits = Array(hex.utf8)
        guard digits.count == 64, samples >= 0 else { throw DataError.malformed(file: file, reason: "a data fingerprint is 64 hex digits") }
        var words: [UInt64] = []
        for word in 0..<4 {
            guard let value = UInt64(String(decoding: digits[(word * 16)..<(word * 16 + 16)], as: UTF8.self), radix: 16) else {
                throw DataError.malformed(file: file, reason: "a data fingerprint is 64 hex digits")
            }
            words.append(value)
        }
        self.words = words
        self.samples = samples
    }

    /// Adds one sample's feeds.
    /// - Parameters:
    ///   - index: the sample's index in the whole data set.
    ///   - feeds: its validated feeds by input name.
    public mutating func add(index: Int, feeds: [String: Tensor]) {
        var hash = SHA256()
        hash.update(field: String(index))
        for name in feeds.keys.sorted() {
            guard let tensor = feeds[name] else { continue }
            hash.update(field: name)
            hash.update(field: "\(tensor.dtype.name)\(tensor.shape)")
            tensor.withUnsafeBytes { hash.update($0) }
        }
        let digest = hash.finalize()
        for word in 0..<4 {
            var value: UInt64 = 0
            for byte in 0..<8 { value |= UInt64(digest[word * 8 + byte]) << (8 * byte) }
            words[word] &+= value
        }
        samples += 1
    }

    /// Adds another shard's fingerprint.
    public mutating func merge(_ other: DataFingerprint) {
        for word in 0..<4 { words[word] &+= other.words[word] }
        samples += other.samples
    }

    /// 64 lowercase hex digits.
    public var hex: String { words.map { String(format: "%016llx", $0) }.joined() }
}
