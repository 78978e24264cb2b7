import Foundation
import OctetGraph

/// Element types with arithmetic, for kernels generic over numeric tensors.
protocol KernelNumber: TensorElement, Comparable {
    static func + (lhs: Self, rhs: Self) -> Self
    static func - (lhs: Self, rhs: Self) -> Self
    static func * (lhs: Self, rhs: Self) -> Self
    /// Division with ONNX semantics (truncation for integers, 0 for a zero divisor, min / −1
    /// wrapping to min; ±inf/NaN for floats).
    static func divide(_ lhs: Self, _ rhs: Self) -> Self
    /// `lhs + rhs`, wrapping around on integer overflow (two's complement, as ONNX Runtime).
    static func wrappingAdd(_ lhs: Self, _ rhs: Self) -> Self
    /// `lhs − rhs`, wrapping around on integer overflow.
    static func wrappingSubtract(_ lhs: Self, _ rhs: Self) -> Self
    /// `lhs · rhs`, wrapping around on integer overflow.
    static func wrappingMultiply(_ lhs: Self, _ rhs: Self) -> Self
    static var zero: Self { get }
    static var one: Self { get }
    init(double: Double)
    var double: Double { get }
    /// True for NaN (always false for integers).
    var isNaNValue: Bool { get }
}

extension KernelNumber where Self: FixedWidthInteger {
    static func divide(_ lhs: Self, _ rhs: Self) -> Self { rhs == 0 ? 0 : lhs.dividedReportingOverflow(by: rhs).partialValue }
    static func wrappingAdd(_ lhs: Self, _ rhs: Self) -> Self { lhs &+ rhs }
    static func wrappingSubtract(_ lhs: Self, _ rhs: Self) -> Self { lhs &- rhs }
    static func wrappingMultiply(_ lhs: Self, _ rhs: Self) -> Self { lhs &* rhs }
    static var one: Self { 1 }
    /// Truncates toward zero and saturates at the type's range; NaN gives 0.
    init(double: Double) {
        if double.isNaN {
            self = 0
        } else if double >= Double(Self.max) {
            self = .max
        } else if double <= Double(Self.min) {
            self = .min
        } else {
            self = Self(double.rounded(.towardZero))
        }
    }
    var double: Double { Double(self) }
    var isNaNValue: Bool { false }
}

extension KernelNumber where Self: BinaryFloatingPoint {
    static func wrappingAdd(_ lhs: Self, _ rhs: Self) -> Self { lhs + rhs }
    static func wrappingSubtract(_ lhs: Self, _ rhs: Self) -> Self { lhs - rhs }
    static func wrappingMultiply(_ lhs: Self, _ rhs: Self) -> Self { lhs * rhs }
}

extension Float: KernelNumber {
    static func divide(_ lhs: Float, _ rhs: Float) -> Float { lhs / rhs }
    static var one: Float { 1 }
    init(double: Double) { self = Float(double) }
    var double: Double { Double(self) }
    var isNaNValue: Bool { isNaN }
}
extension Double: KernelNumber {
    static func divide(_ lhs: Double, _ rhs: Double) -> Double { lhs / rhs }
    static var one: Double { 1 }
    init(double: Double) { self = double }
    var double: Double { self }
    var isNaNValue: Bool { isNaN }
}
extension Int8: KernelNumber {}
extension UInt8: KernelNumber {}
extension Int16: KernelNumber {}
extension UInt16: KernelNumber {}
extension Int32: KernelNumber {}
extension UInt32: KernelNumber {}
extension Int64: KernelNumber {}
extension UInt64: KernelNumber {}

/// A generic operation on numbers, applied after dispatch on a tensor's type.
protocol NumberOperation {
    associatedtype Output
    func callAsFunction<T: KernelNumber>(_ type: T.Type) throws -> Output
}

enum Dispatch {
    /// Runs `operation` with the Swift type of `dtype`. float16 and bfloat16 are not handled
    /// here: callers widen them to float32 first (see ``widened(_:)``).
    static func number<O: NumberOperation>(_ dtype: DType, _ operation: O) throws -> O.Output {
        switch dtype {
        case .float32: return try operation(Float.self)
        case .float64: return try operation(Double.self)
        case .int64: return try operation(Int64.self)
        case .int32: return try operation(Int32.self)
        case .int8: return try operation(Int8.self)
        case .uint8: return try operation(UInt8.self)
        case .int16: return try operation(Int16.self)
        case .uint16: return try operation(UInt16.self)
        case .uint32: return try operation(UInt32.self)
        case .uint64: return try operation(UInt64.self)
        default: throw KernelError("\(dtype) tensors are not supported by this operator")
        }
    }

    /// float16 / bfloat16 tensors converted to float32 (others unchanged), with the type to
    /// convert results back to.
    static func widened(_ tensor: Tensor) throws -> (Tensor, DType?) {
        switch tensor.dtype {
        case .float16, .bfloat16: return (try tensor.converted(to: .float32), tensor.dtype)
        default: return (tensor, nil)
        }
    }

    /// Converts a float32 result back to `original` when the inputs were widened.
    static func narrowed(_ tensor: Tensor, to original: DType?) throws -> Tensor {
        guard let original, tensor.dtype == .float32 else { return tensor }
        return try tensor.converted(to: original)
    }
}
