import Foundation
import OctetGraph

/// Mod, BitShift, BitwiseAnd/Or/Xor/Not and BitCast.
enum BitwiseKernels {
    /// A generic operation on fixed-width integers, applied after dispatch on a tensor's type.
    protocol IntegerOperation {
        func callAsFunction<T: KernelNumber & FixedWidthInteger>(_ type: T.Type) throws -> Tensor
    }

    /// Runs `operation` with the Swift integer type of `dtype`.
    static func integer<O: IntegerOperation>(_ dtype: DType, _ operation: O) throws -> Tensor {
        switch dtype {
        case .int8: return try operation(Int8.self)
        case .uint8: return try operation(UInt8.self)
        case .int16: return try operation(Int16.self)
        case .uint16: return try operation(UInt16.self)
        case .int32: return try operation(Int32.self)
        case .uint32: return try operation(UInt32.self)
        case .int64: return try operation(Int64.self)
        case .uint64: return try operation(UInt64.self)
        default: throw KernelError("expects an integer tensor, got \(dtype)")
        }
    }

    /// Element-wise integer operations with NumPy broadcasting.
    struct Binary: IntegerOperation {
        enum Kind { case and, or, xor, shiftLeft, shiftRight, floorMod, truncatedMod }
        let a: Tensor
        let b: Tensor
        let kind: Kind

        func callAsFunction<T: KernelNumber & FixedWidthInteger>(_ type: T.Type) throws -> Tensor {
            switch kind {
            case .and: return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { $0 & $1 }
            case .or: return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { $0 | $1 }
            case .xor: return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { $0 ^ $1 }
            case .shiftLeft: return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { Self.shift($0, $1, left: true) }
            case .shiftRight: return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { Self.shift($0, $1, left: false) }
            case .truncatedMod:
                return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { x, y in
                    y == 0 ? 0 : x.remainderReportingOverflow(dividingBy: y).partialValue
                }
            case .floorMod:
                return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { x, y in
                    guard y != 0 else { return 0 }
                    let r = x.remainderReportingOverflow(dividingBy: y).partialValue
                    return r != 0 && (r < 0) != (y < 0) ? r &+ y : r
                }
            }
        }

        /// `x` shifted by `amount` bits; amounts outside 0..<bitWidth leave only the sign fill.
        static func shift<T: FixedWidthInteger>(_ x: T, _ amount: T, left: Bool) -> T {
            guard amount >= 0, amount < T.bitWidth else { return !left && x < 0 ? -1 : 0 }
            return left ? x &<< amount : x &>> amount
        }
    }

    /// Bitwise complement.
    struct Not: IntegerOperation {
        let input: Tensor
        func callAsFunction<T: KernelNumber & FixedWidthInteger>(_ type: T.Type) throws -> Tensor {
            input.withElements(as: T.self) { x in
                Tensor.build(T.self, shape: input.shape) { out in
                    for i in 0..<out.count { out[i] = ~x[i] }
                }
            }
        }
    }

    /// Mod: integers as above; floating point with `fmod` 1 as C's fmod, with 0 as the floored
    /// remainder (sign of the divisor).
    static func mod(_ context: KernelContext) throws -> Tensor {
        let (a, b) = (try context.input(0), try context.input(1))
        guard a.dtype == b.dtype else { throw KernelError("input types differ: \(a.dtype) and \(b.dtype)") }
        let truncated = context.int("fmod", 0) != 0
        guard a.dtype.isFloatingPoint else {
            return try integer(a.dtype, Binary(a: a, b: b, kind: truncated ? .truncatedMod : .floorMod))
        }
        let (wa, original) = try Dispatch.widened(a)
        let (wb, _) = try Dispatch.widened(b)
        struct FloatMod: NumberOperation {
            let a: Tensor
            let b: Tensor
            let truncated: Bool
            func callAsFunction<T: KernelNumber>(_ type: T.Type) throws -> Tensor {
                try Broadcast.binary(a, b, as: Double.self, Double.self, into: T.self) { x, y in
                    var r = Foundation.fmod(x, y)
                    if !truncated, !r.isNaN {
                        if r == 0 { r = Double(signOf: y, magnitudeOf: 0) } else if (r < 0) != (y < 0) { r += y }
                    }
                    return T(double: r)
                }
            }
        }
        let result = try Dispatch.number(wa.dtype, FloatMod(a: try wa.converted(to: .float64), b: try wb.converted(to: .float64),
                                                             truncated: truncated))
        return try Dispatch.narrowed(result, to: original)
    }

    /// BitCast: the same bytes read as another type of the same bit width.
    static func bitCast(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        guard let code = Int32(exactly: context.int("to", 0)), let target = DType(rawValue: code), target != .string, input.dtype != .string else {
            throw KernelError("attribute 'to' = \(context.int("to", 0)) is not a non-string tensor type")
        }
        guard target.bitWidth == input.dtype.bitWidth else {
            throw KernelError("cannot reinterpret \(input.dtype) (\(input.dtype.bitWidth) bits) as \(target) (\(target.bitWidth) bits)")
        }
        return try input.withUnsafeBytes { try Tensor(dtype: target, shape: input.shape, bytes: $0) }
    }

    static func register(in registry: inout OpRegistry) {
        let kinds: [(String, Binary.Kind)] = [("BitwiseAnd", .and), ("BitwiseOr", .or), ("BitwiseXor", .xor)]
        for (name, kind) in kinds {
            registry.register(name) { c in
                let (a, b) = (try c.input(0), try c.input(1))
                guard a.dtype == b.dtype else { throw KernelError("input types differ: \(a.dtype) and \(b.dtype)") }
                return [try integer(a.dtype, Binary(a: a, b: b, kind: kind))]
            }
        }
        registry.register("BitwiseNot") { c in
            let input = try c.input(0)
            return [try integer(input.dtype, Not(input: input))]
        }
        registry.register("BitShift") { c in
            let (a, b) = (try c.input(0), try c.input(1))
            guard a.dtype == b.dtype else { throw KernelError("input types differ: \(a.dtype) and \(b.dtype)") }
            let direction = c.string("direction", "")
            guard direction == "LEFT" || direction == "RIGHT" else {
                throw KernelError("attribute 'direction' must be \"LEFT\" or \"RIGHT\", got \"\(direction)\"")
            }
            return [try integer(a.dtype, Binary(a: a, b: b, kind: direction == "LEFT" ? .shiftLeft : .shiftRight))]
        }
        registry.register("Mod") { [try mod($0)] }
        registry.register("BitCast") { [try bitCast($0)] }
    }
}
