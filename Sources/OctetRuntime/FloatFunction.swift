import Foundation

/// Floating-point element types with the elementary functions kernels need.
protocol KernelFloat: BinaryFloatingPoint, KernelNumber {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: KernelFloat {
    static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    static func log(_ x: Float) -> Float { Foundation.log(x) }
    static func sin(_ x: Float) -> Float { Foundation.sin(x) }
    static func cos(_ x: Float) -> Float { Foundation.cos(x) }
    static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
    static func erf(_ x: Float) -> Float { Foundation.erf(x) }
    static func pow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
}

extension Double: KernelFloat {
    static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    static func log(_ x: Double) -> Double { Foundation.log(x) }
    static func sin(_ x: Double) -> Double { Foundation.sin(x) }
    static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}

/// A scalar function applied element-wise, with its parameters.
enum FloatFunction: Sendable {
    case sqrt, exp, log, reciprocal, floor, ceil, round, sin, cos, erf, tanh, sigmoid, softplus, mish
    case hardSwish, neg, abs, sign, relu, gelu, geluTanh, square
    case hardSigmoid(alpha: Double, beta: Double)
    case leakyRelu(alpha: Double)
    case elu(alpha: Double)
    case selu(alpha: Double, gamma: Double)
    case clip(low: Double, high: Double)

    @inline(__always)
    func callAsFunction<T: KernelFloat>(_ x: T) -> T {
        switch self {
        case .sqrt: return x.squareRoot()
        case .square: return x * x
        case .exp: return T.exp(x)
        case .log: return T.log(x)
        case .reciprocal: return 1 / x
        case .floor: return x.rounded(.down)
        case .ceil: return x.rounded(.up)
        case .round: return x.rounded(.toNearestOrEven)
        case .sin: return T.sin(x)
        case .cos: return T.cos(x)
        case .erf: return T.erf(x)
        case .tanh: return T.tanh(x)
        case .sigmoid: return x >= 0 ? 1 / (1 + T.exp(-x)) : T.exp(x) / (1 + T.exp(x))
        case .softplus: return Self.softplusValue(x)
        case .mish: return x * T.tanh(Self.softplusValue(x))
        case .hardSwish: return x * Swift.max(0, Swift.min(1, x / 6 + T(0.5)))
        case .neg: return -x
        case .abs: return Swift.abs(x)
        case .sign: return x > 0 ? 1 : (x < 0 ? -1 : 0)
        case .relu: return x < 0 ? 0 : x
        case .gelu: return T(0.5) * x * (1 + T.erf(x / T(1.4142135623730951)))
        case .geluTanh:
            let inner = T(0.7978845608028654) * (x + T(0.044715) * x * x * x)
            return T(0.5) * x * (1 + T.tanh(inner))
        case let .hardSigmoid(alpha, beta): return Swift.max(0, Swift.min(1, T(alpha) * x + T(beta)))
        case .leakyRelu(let alpha): return x < 0 ? T(alpha) * x : x
        case .elu(let alpha): return x < 0 ? T(alpha) * (T.exp(x) - 1) : x
        case let .selu(alpha, gamma): return x <= 0 ? T(gamma) * (T(alpha) * T.exp(x) - T(alpha)) : T(gamma) * x
        case let .clip(low, high): return x.isNaN ? x : Swift.min(Swift.max(x, T(low)), T(high))
        }
    }

    private static func softplusValue<T: KernelFloat>(_ x: T) -> T { x > 20 ? x : T.log(1 + T.exp(x)) }
}
