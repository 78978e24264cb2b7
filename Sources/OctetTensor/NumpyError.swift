import Foundation

/// Errors reading or writing NumPy `.npy` / `.npz` files; each names the file (and the
/// archive member) it is about.
public enum NumpyError: LocalizedError, Equatable {
    /// The bytes do not start with the `\x93NUMPY` magic.
    case notNumpy(file: String)
    /// A `.npy` format version Octet does not know.
    case unsupportedVersion(file: String, major: UInt8, minor: UInt8)
    /// The header is cut short or is not the expected dictionary.
    case corruptHeader(file: String, reason: String)
    /// An element type that is not a plain number or bool.
    case unsupportedDescr(file: String, descr: String, reason: String)
    /// Fewer (or more) data bytes than the header's shape needs.
    case dataLength(file: String, expected: Int, actual: Int)
    /// A `.npz` that is not a readable ZIP archive.
    case notArchive(file: String, reason: String)
    /// A `.npz` member that is not a `.npy` file.
    case badMember(file: String, member: String, reason: String)
    /// An array key that is missing from a `.npz`.
    case missingKey(file: String, key: String, available: [String])
    /// A tensor type NumPy cannot represent (bfloat16, float8, int4, string).
    case unrepresentable(file: String, dtype: DType)
    /// The file could not be read or written.
    case io(file: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .notNumpy(file): "\(file): not a NumPy .npy file (missing the \\x93NUMPY magic)"
        case let .unsupportedVersion(file, major, minor):
            "\(file): unsupported .npy format version \(major).\(minor) (expected 1.0, 2.0 or 3.0)"
        case let .corruptHeader(file, reason): "\(file): corrupt .npy header: \(reason)"
        case let .unsupportedDescr(file, descr, reason): "\(file): unsupported array type '\(descr)': \(reason)"
        case let .dataLength(file, expected, actual):
            "\(file): array data is \(actual) bytes but its header's shape and type need \(expected)"
        case let .notArchive(file, reason): "\(file): not a NumPy .npz archive: \(reason)"
        case let .badMember(file, member, reason): "\(file): member '\(member)': \(reason)"
        case let .missingKey(file, key, available):
            "\(file): no array named '\(key)' (the archive has: \(available.joined(separator: ", ")))"
        case let .unrepresentable(file, dtype): "\(file): NumPy has no standard type for \(dtype) tensors"
        case let .io(file, reason): "\(file): \(reason)"
        }
    }
}
