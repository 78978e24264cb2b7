import Foundation

extension CalibrationCache {
    /// A TensorRT 10 release Octet writes caches for unless told otherwise.
    public static let defaultTensorRTVersion = "10.13.3"

    /// A cache holding `ranges` in their order (graph order). Tensors with no finite non-zero
    /// value (amax 0) are left out: a zero scale is not a range TensorRT can use, and a tensor
    /// without an entry stays in higher precision.
    /// - Parameters:
    ///   - ranges: the ranges, in the order to write.
    ///   - header: the header line (``header(major:minor:patch:algorithm:)``).
    public init(ranges: [TensorRange], header: String) {
        self.init(header: header, entries: ranges.filter { $0.amax > 0 && $0.amax.isFinite }.map { Entry(name: $0.name, scale: $0.scale) })
    }

    /// The header for a TensorRT version written `major.minor.patch` (or `major.minor`).
    /// - Throws: ``CacheError/badVersion(_:)`` for anything else.
    public static func header(tensorRTVersion version: String, algorithm: String) throws -> String {
        let pieces = version.split(separator: ".", omittingEmptySubsequences: false)
        let parts = pieces.compactMap { Int($0) }.filter { (0..<100).contains($0) }
        guard parts.count == pieces.count, (2...3).contains(parts.count), parts[0] >= 5 else { throw CacheError.badVersion(version) }
        return header(major: parts[0], minor: parts[1], patch: parts.count == 3 ? parts[2] : 0, algorithm: algorithm)
    }
}
