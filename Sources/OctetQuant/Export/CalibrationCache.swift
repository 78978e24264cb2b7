import Foundation

/// A TensorRT calibration cache (SPEC §5): a header `TRT-<version>-<Algorithm>` and one line
/// `<tensor name>: <hex>` per tensor, where hex is the float32 bit pattern of amax / 127.
public struct CalibrationCache: Sendable, Equatable {
    /// One tensor's entry.
    public struct Entry: Sendable, Equatable {
        /// ONNX value name, verbatim (may contain `:`).
        public var name: String
        /// The INT8 scale (amax / 127).
        public var scale: Float

        /// Creates an entry.
        public init(name: String, scale: Float) {
            self.name = name
            self.scale = scale
        }
    }

    /// The header line, e.g. `TRT-100300-EntropyCalibration2`.
    public var header: String
    /// Entries in file order.
    public var entries: [Entry]

    /// Creates a cache.
    public init(header: String, entries: [Entry]) {
        self.header = header
        self.entries = entries
    }

    /// The header TensorRT `major.minor.patch` expects for `algorithm` (TensorRT rejects a cache
    /// naming another version or algorithm; `trtexec --calib` expects `EntropyCalibration2`).
    /// - Returns: `TRT-<major·10000 + minor·100 + patch>-<algorithm>` for TensorRT ≥ 10, with
    ///   `major·1000` before 10 (8.6.0 → `TRT-8600-…`).
    public static func header(major: Int, minor: Int, patch: Int, algorithm: String = "EntropyCalibration2") -> String {
        let version = major >= 10 ? major * 10000 + minor * 100 + patch : major * 1000 + minor * 100 + patch
        return "TRT-\(version)-\(algorithm)"
    }

    /// Eight lowercase hex digits of the scale's bit pattern, most significant first.
    public static func hex(_ scale: Float) -> String {
        let digits = String(scale.bitPattern, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// The cache file's text (LF line endings, ending with a newline).
    public var text: String {
        ([header] + entries.map { "\($0.name): \(Self.hex($0.scale))" }).joined(separator: "\n") + "\n"
    }

    /// Parses a cache. Names are split from their value at the last `": "`; values may have 1–8
    /// hex digits in either case; CRLF line endings are accepted.
    /// - Parameters:
    ///   - text: the file's contents.
    ///   - file: name used in errors.
    /// - Throws: ``CacheError`` naming the file and line.
    public static func parse(_ text: String, file: String) throws -> CalibrationCache {
        // A header past this length is not a cache header (keeps messages short for binary files).
        if let first = text.prefix(200).split(whereSeparator: \.isNewline).first, !first.hasPrefix("TRT-") || first.count > 120 {
            throw CacheError.malformed(file: file, line: 1, reason: "expected a header such as TRT-100300-EntropyCalibration2")
        }
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
        guard let header = lines.first, header.hasPrefix("TRT-") else {
            throw CacheError.malformed(file: file, line: 1, reason: "expected a header such as TRT-100300-EntropyCalibration2")
        }
        var entries: [Entry] = []
        for (offset, line) in lines.enumerated().dropFirst() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let separator = line.range(of: ": ", options: .backwards) else {
                throw CacheError.malformed(file: file, line: offset + 1, reason: "expected '<tensor name>: <hex scale>'")
            }
            let digits = line[separator.upperBound...].trimmingCharacters(in: .whitespaces)
            guard (1...8).contains(digits.count), let bits = UInt32(digits, radix: 16) else {
                throw CacheError.malformed(file: file, line: offset + 1, reason: "'\(digits)' is not 1–8 hex digits")
            }
            let name = String(line[..<separator.lowerBound])
            guard !name.isEmpty else { throw CacheError.malformed(file: file, line: offset + 1, reason: "the tensor name is empty") }
            entries.append(Entry(name: name, scale: Float(bitPattern: bits)))
        }
        return CalibrationCache(header: header, entries: entries)
    }
}

/// Errors reading a calibration cache.
public enum CacheError: LocalizedError, Equatable {
    /// A line that does not follow the format.
    case malformed(file: String, line: Int, reason: String)
    /// A TensorRT version that is not `major.minor[.patch]`.
    case badVersion(String)
    /// A cache file that cannot be read.
    case unreadable(file: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .malformed(file, line, reason): "\(file):\(line): not a TensorRT calibration cache line: \(reason)"
        case let .badVersion(version): "TensorRT version '\(version)' is not major.minor.patch (for example 10.13.3 or 8.6.1)"
        case let .unreadable(file, reason): "\(file): \(reason)"
        }
    }
}
