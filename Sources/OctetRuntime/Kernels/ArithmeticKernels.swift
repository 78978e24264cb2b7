import Foundation
import OctetGraph

/// Add, Sub, Mul, Div, Pow, Min, Max, Sum, Mean, PRelu with NumPy broadcasting.
enum ArithmeticKernels {
    struct Binary: NumberOperation {
        let a: Tensor
        let b: Tensor
        let kind: Kind
        enum Kind { case add, sub, mul, div, min, max, prelu }

        func callAsFunction<T: KernelNumber>(_ type: T.Type) throws -> Tensor {
            switch kind {
            case .add: return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { T.wrappingAdd($0, $1) }
            case .sub: return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { T.wrappingSubtract($0, $1) }
            case .mul: return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { T.wrappingMultiply($0, $1) }
            case .div: return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { T.divide($0, $1) }
            case .min:
                return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { x, y in
                    x.isNaNValue || y.isNaNValue ? (x.isNaNValue ? x : y) : (y < x ? y : x)
                }
            case .max:
                return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { x, y in
                    x.isNaNValue || y.isNaNValue ? (x.isNaNValue ? x : y) : (y > x ? y : x)
                }
            case .prelu: return try Broadcast.binary(a, b, as: T.self, T.self, into: T.self) { x, slope in x < T.zero ? T.wrappingMultiply(x, slope) : x }
            }
        }
    }

    /// Add, with the Relu after it when the session fused one (``Fusion``): one pass for float32.
    static func add(_ context: KernelContext) throws -> Tensor {
        let (a, b) = (try context.input(0), try context.input(1))
        guard FusedActivation(context)?.kind == .relu else { return try binary(a, b, .add) }
        if a.dtype == .float32 && b.dtype == .float32 { return try Broadcast.floatBinary(a, b, .addRelu) }
        return try ActivationKernels.unary(try binary(a, b, .add), .relu)
    }

    /// Applies a binary kernel, widening float16/bfloat16 to float32 and back.
    static func binary(_ a: Tensor, _ b: Tensor, _ kind: Binary.Kind) throws -> Tensor {
        guard a.dtype == b.dtype else { throw KernelError("input types differ: \(a.dtype) and \(b.dtype)") }
        if a.dtype == .float32, let op = Broadcast.FloatOperator(kind) { return try Broadcast.floatBinary(a, b, op) }
        let (wa, original) = try Dispatch.widened(a)
        let (wb, _) = try Dispatch.widened(b)
        let result = try Dispatch.number(wa.dtype, Binary(a: wa, b: wb, kind: kind))
        return try Dispatch.narrowed(result, to: original)
    }

    static func variadic(_ context: KernelContext, _ kind: Binary.Kind) throws -> Tensor {
        let values = context.inputs.compactMap { $0 }
        guard var result = values.first else { throw KernelError("needs at least one input") }
        if values.count == 1 { return result }
        for value in values.dropFirst() { result = try binary(result, value, kind) }
        return result
    }

    /// x ** y for any numeric types (computed in double precision, result in x's type).
    static func pow(_ base: Tensor, _ exponent: Tensor) throws -> Tensor {
        // x¹ and x² (decomposed LayerNorm's variance) of float32 tensors skip pow; both are exact.
        if base.dtype == .float32, exponent.elementCount == 1, exponent.rank <= base.rank, let power = try exponent.scalarDouble() {
            let shape = try Broadcast.shape([base.shape, exponent.shape])
            switch power {
            case 1: return base.unsafeReshaped(shape)
            case 2: return try ActivationKernels.unary(base, .square).unsafeReshaped(shape)
            default: break
            }
        }
        let (wideBase, original) = try Dispatch.widened(base)
        let exponents = try exponent.converted(to: .float64)
        let shape = try Broadcast.shape([base.shape, exponent.shape])
        struct Power: NumberOperation {
            let base: Tensor
            let exponents: Tensor
            func callAsFunction<T: KernelNumber>(_ type: T.Type) throws -> Tensor {
                try Broadcast.binary(base, exponents, as: T.self, Double.self, into: T.self) { x, y in
                    T(double: Foundation.pow(x.double, y))
                }
            }
        }
        let result = try Dispatch.number(wideBase.dtype, Power(base: wideBase, exponents: exponents))
        precondition(result.shape == shape)
        return try Dispatch.narrowed(result, to: original)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Add") { context in [try add(context)] }
        registry.register("Sub") { [try binary($0.input(0), $0.input(1), .sub)] }
        registry.register("Mul") { [try binary($0.input(0), $0.input(1), .mul)] }
        registry.register("Div") { [try binary($0.input(0), $0.input(1), .div)] }
        registry.register("PRelu") { [try binary($0.input(0), $0.input(1), .prelu)] }
        registry.register("Pow") { [try pow($0.input(0), $0.input(1))] }
        registry.register("Min") { [try variadic($0, .min)] }
        registry.register("Max") { [try variadic($0, .max)] }
        registry.register("Sum") { [try variadic($0, .add)] }
        registry.register("Mean") { context in
            let total = try variadic(context, .add)
            let count = Tensor(shape: [], scalars: [Float(context.inputs.compactMap { $0 }.count)])
            return [try binary(total, try count.converted(to: total.dtype), .div)]
        }
    }
}
