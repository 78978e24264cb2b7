import COctetKernels
import Foundation
import OctetGraph

/// Element-wise math and activations on floating-point tensors (and Neg/Abs/Sign/Relu on
/// integers).
enum ActivationKernels {
    /// Maps every element with `function` (float32/float64; float16 and bfloat16 through float32).
    static func unary(_ input: Tensor, _ function: FloatFunction) throws -> Tensor {
        switch input.dtype {
        case .float32: return map(input, Float.self, function)
        case .float64: return map(input, Double.self, function)
        case .float16, .bfloat16:
            return try unary(try input.converted(to: .float32), function).converted(to: input.dtype)
        default:
            throw KernelError("expects a floating-point tensor, got \(input.dtype)")
        }
    }

    private static func map<T: KernelFloat>(_ input: Tensor, _: T.Type, _ function: FloatFunction) -> Tensor {
        if T.self == Float.self, let (op, alpha, beta) = vectorized(function) {
            return input.withElements(as: Float.self) { x in
                Tensor.buildOverwriting(Float.self, shape: input.shape) { out in
                    let (source, target) = (UncheckedSendable(x), UncheckedSendable(out))
                    ThreadPool.parallelFor(out.count, minimumChunk: 16_384) { range in
                        guard let from = source.value.baseAddress, let to = target.value.baseAddress else { return }
                        octet_unary_f32(op, from + range.lowerBound, to + range.lowerBound, range.count, alpha, beta)
                    }
                }
            }
        }
        return input.withElements(as: T.self) { x in
            Tensor.build(T.self, shape: input.shape) { out in
                // The common activations get a loop of their own; the rest switch per element.
                switch function {
                case .relu: apply(x, out) { $0 < 0 ? 0 : $0 }
                case .sigmoid: apply(x, out) { $0 >= 0 ? 1 / (1 + T.exp(-$0)) : T.exp($0) / (1 + T.exp($0)) }
                case .hardSwish: apply(x, out) { $0 * Swift.max(0, Swift.min(1, $0 / 6 + T(0.5))) }
                case .tanh: apply(x, out) { T.tanh($0) }
                case .erf: apply(x, out) { T.erf($0) }
                case .sqrt: apply(x, out) { $0.squareRoot() }
                case .square: apply(x, out) { $0 * $0 }
                default: apply(x, out) { function($0) }
                }
            }
        }
    }

    /// The C kernel (and its parameters) computing `function` on float32, if there is one.
    private static func vectorized(_ function: FloatFunction) -> (Int32, Float, Float)? {
        switch function {
        case .relu: (Int32(OCTET_UNARY_RELU), 0, 0)
        case .sigmoid: (Int32(OCTET_UNARY_SIGMOID), 0, 0)
        case .hardSigmoid(let alpha, let beta): (Int32(OCTET_UNARY_HARD_SIGMOID), Float(alpha), Float(beta))
        case .hardSwish: (Int32(OCTET_UNARY_HARD_SWISH), 0, 0)
        case .erf: (Int32(OCTET_UNARY_ERF), 0, 0)
        default: nil
        }
    }

    /// `out[i] = f(x[i])` over chunks in parallel.
    @inline(__always)
    private static func apply<T>(_ x: UnsafeBufferPointer<T>, _ out: UnsafeMutableBufferPointer<T>, _ f: (T) -> T) {
        let output = UncheckedSendable(out)
        let input = UncheckedSendable(x)
        ThreadPool.parallelFor(out.count, minimumChunk: 16_384) { range in
            for i in range { output.value[i] = f(input.value[i]) }
        }
    }

    /// Maps every element of a signed numeric tensor with a generic function.
    struct SignedMap: NumberOperation {
        let input: Tensor
        let kind: Kind
        enum Kind { case neg, abs, sign, relu }
        func callAsFunction<T: KernelNumber>(_ type: T.Type) throws -> Tensor {
            input.withElements(as: T.self) { x in
                Tensor.build(T.self, shape: input.shape) { out in
                    for i in 0..<out.count {
                        let value = x[i]
                        switch kind {
                        // Integer min has no negation: it wraps to itself, as in ONNX Runtime.
                        case .neg: out[i] = T.wrappingSubtract(T.zero, value)
                        case .abs: out[i] = value < T.zero ? T.wrappingSubtract(T.zero, value) : value
                        case .sign: out[i] = value > T.zero ? T.one : (value < T.zero ? T.zero - T.one : T.zero)
                        case .relu: out[i] = value < T.zero ? T.zero : value
                        }
                    }
                }
            }
        }
    }

    static func register(in registry: inout OpRegistry) {
        let plain: [(String, FloatFunction)] = [
            ("Sqrt", .sqrt), ("Exp", .exp), ("Log", .log), ("Reciprocal", .reciprocal), ("Floor", .floor),
            ("Ceil", .ceil), ("Round", .round), ("Sin", .sin), ("Cos", .cos), ("Erf", .erf), ("Tanh", .tanh),
            ("Sigmoid", .sigmoid), ("Softplus", .softplus), ("Mish", .mish), ("HardSwish", .hardSwish),
            ("Tan", .tan), ("Asin", .asin), ("Acos", .acos), ("Atan", .atan), ("Sinh", .sinh), ("Cosh", .cosh),
            ("Asinh", .asinh), ("Acosh", .acosh), ("Atanh", .atanh), ("Softsign", .softsign),
        ]
        for (name, function) in plain {
            registry.register(name) { context in [try unary(context.input(0), function)] }
        }
        registry.register("HardSigmoid") { c in
            [try unary(c.input(0), .hardSigmoid(alpha: Double(c.float("alpha", 0.2)), beta: Double(c.float("beta", 0.5))))]
        }
        registry.register("LeakyRelu") { c in [try unary(c.input(0), .leakyRelu(alpha: Double(c.float("alpha", 0.01))))] }
        registry.register("Celu") { c in [try unary(c.input(0), .celu(alpha: Double(c.float("alpha", 1))))] }
        registry.register("ThresholdedRelu") { c in
            [try unary(c.input(0), .thresholdedRelu(alpha: Double(c.float("alpha", 1))))]
        }
        registry.register("Swish") { c in [try unary(c.input(0), .swish(alpha: Double(c.float("alpha", 1))))] }
        registry.register("Shrink") { c in try [shrink(c)] }
        registry.register("Elu") { c in [try unary(c.input(0), .elu(alpha: Double(c.float("alpha", 1))))] }
        registry.register("Selu") { c in
            [try unary(c.input(0), .selu(alpha: Double(c.float("alpha", 1.67326319217681884765625)),
                                        gamma: Double(c.float("gamma", 1.05070102214813232421875))))]
        }
        registry.register("Gelu") { c in
            [try unary(c.input(0), c.string("approximate", "none") == "tanh" ? .geluTanh : .gelu)]
        }
        let signed: [(String, SignedMap.Kind, FloatFunction)] = [
            ("Neg", .neg, .neg), ("Abs", .abs, .abs), ("Sign", .sign, .sign), ("Relu", .relu, .relu),
        ]
        for (name, kind, function) in signed {
            registry.register(name) { context in
                let input = try context.input(0)
                if input.dtype.isFloatingPoint { return [try unary(input, function)] }
                return [try Dispatch.number(input.dtype, SignedMap(input: input, kind: kind))]
            }
        }
        registry.register("Clip") { try [clip($0)] }
    }

    /// Shrink: x + bias below −lambd, x − bias above lambd, 0 between; integers computed in
    /// double precision and converted back.
    static func shrink(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        let function = FloatFunction.shrink(lambda: Double(context.float("lambd", 0.5)), bias: Double(context.float("bias", 0)))
        if input.dtype.isFloatingPoint { return try unary(input, function) }
        let values = try input.doubles().map { function($0) }
        return try Tensor(shape: input.shape, scalars: values).converted(to: input.dtype)
    }

    /// Clip with bounds from attributes (opset < 11) or optional inputs.
    static func clip(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        var low = -Double.infinity
        var high = Double.infinity
        if context.opset < 11 {
            low = Double(context.float("min", -.greatestFiniteMagnitude))
            high = Double(context.float("max", .greatestFiniteMagnitude))
        } else {
            if let bound = context.optionalInput(1), let value = try bound.scalarDouble() { low = value }
            if let bound = context.optionalInput(2), let value = try bound.scalarDouble() { high = value }
        }
        if input.dtype.isFloatingPoint { return try unary(input, .clip(low: low, high: high)) }
        struct ClipIntegers: NumberOperation {
            let input: Tensor
            let low: Double
            let high: Double
            func callAsFunction<T: KernelNumber>(_ type: T.Type) throws -> Tensor {
                let lower = low.isInfinite ? nil : T(double: low)
                let upper = high.isInfinite ? nil : T(double: high)
                return input.withElements(as: T.self) { x in
                    Tensor.build(T.self, shape: input.shape) { out in
                        for i in 0..<out.count {
                            var value = x[i]
                            if let lower, value < lower { value = lower }
                            if let upper, value > upper { value = upper }
                            out[i] = value
                        }
                    }
                }
            }
        }
        return try Dispatch.number(input.dtype, ClipIntegers(input: input, low: low, high: high))
    }
}
