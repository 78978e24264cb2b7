import Foundation

/// Errors from building or converting tensors.
public enum TensorError: LocalizedError, Equatable {
    /// Stored bytes do not fit the shape and type.
    case byteCountMismatch(dtype: DType, shape: [Int], expected: Int, actual: Int)
    /// A reshape to a shape with a different element count.
    case reshapeMismatch(from: [Int], to: [Int])
    /// A conversion between two types that has no meaning (strings ↔ numbers, complex → real).
    case unsupportedConversion(from: DType, to: DType)

    public var errorDescription: String? {
        switch self {
        case let .byteCountMismatch(dtype, shape, expected, actual):
            "a \(dtype) tensor of shape \(shape) needs \(expected) bytes of data, found \(actual)"
        case let .reshapeMismatch(from, to):
            "cannot reshape a tensor of shape \(from) to \(to): element counts differ"
        case let .unsupportedConversion(from, to):
            "cannot convert a \(from) tensor to \(to)"
        }
    }
}
