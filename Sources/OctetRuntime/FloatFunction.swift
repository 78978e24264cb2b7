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
    static func tan(_ x: Self) -> Self
    static func asin(_ x: Self) -> Self
    static func acos(_ x: Self) -> Self
    static func atan(_ x: Self) -> Self
    static func sinh(_ x: Self) -> Self
    static func cosh(_ x: Self) -> Self
    static func asinh(_ x: Self) -> Self
    static func acosh(_ x: Self) -> Self
    static func atanh(_ x: Self) -> Self
}

extension Float: KernelFloat {
    static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    static func log(_ x: Float) -> Float { Foundation.log(x) }
    static func sin(_ x: Float) -> Float { Foundation.sin(x) }
    static func cos(_ x: Float) -> Float { Foundation.cos(x) }
    static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
    static func erf(_ x: Float) -> Float { Foundation.erf(x) }
    static func pow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
    static func tan(_ x: Float) -> Float { Foundation.tan(x) }
    static func asin(_ x: Float) -> Float { Foundation.asin(x) }
    static func acos(_ x: Float) -> Float { Foundation.acos(x) }
    static func atan(_ x: Float) -> Float { Foundation.atan(x) }
    static func sinh(_ x: Float) -> Float { Foundation.sinh(x) }
    static func cosh(_ x: Float) -> Float { Foundation.cosh(x) }
    static func asinh(_ x: Float) -> Float { Foundation.asinh(x) }
    static func acosh(_ x: Float) -> Float { Foundation.acosh(x) }
    static func atanh(_ x: Float) -> Float { Foundation.atanh(x) }
}

extension Double: KernelFloat {
    static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    static func log(_ x: Double) -> Double { Foundation.log(x) }
    static func sin(_ x: Double) -> Double { Foundation.sin(x) }
    static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    static func tan(_ x: Double) -> Double { Foundation.tan(x) }
    static func asin(_ x: Double) -> Double { Foundation.asin(x) }
    static func acos(_ x: Double) -> Double { Foundation.acos(x) }
    static func atan(_ x: Double) -> Double { Foundation.atan(x) }
    static func sinh(_ x: Double) -> Double { Foundation.sinh(x) }
    static func cosh(_ x: Double) -> Double { Foundation.cosh(x) }
    static func asinh(_ x: Double) -> Double { Foundation.asinh(x) }
    static func acosh(_ x: Double) -> Double { Foundation.acosh(x) }
    static func atanh(_ x: Double) -> Double { Foundation.atanh(x) }
}

/// A scalar function applied element-wise, with its parameters.
enum FloatFunction: Sendable {
    case sqrt, exp, log, reciprocal, floor, ceil, round, sin, cos, erf, tanh, sigmoid, softplus, mish
    case hardSwish, neg, abs, sign, relu, gelu, geluTanh, square
    case tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, softsign
    case celu(alpha: Double)
    case shrink(lambda: Double, bias: Double)
    case thresholdedRelu(alpha: Double)
    case swish(alpha: Double)
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
        case .tan: return T.tan(x)
        case .asin: return T.asin(x)
        case .acos: return T.acos(x)
        case .atan: return T.atan(x)
        case .sinh: return T.sinh(x)
        case .cosh: return T.cosh(x)
        case .asinh: return T.asinh(x)
        case .acosh: return T.acosh(x)
        case .atanh: return T.atanh(x)
        case .softsign: return x / (1 + Swift.abs(x))
        case .celu(let alpha): return Swift.max(0, x) + Swift.min(0, T(alpha) * (T.exp(x / T(alpha)) - 1))
        case let .shrink(lambda, bias): return x < -T(lambda) ? x + T(bias) : (x > T(lambda) ? x - T(bias) : 0)
        case .thresholdedRelu(let alpha): return x > T(alpha) ? x : 0
        case .swish(let alpha):
            let z = T(alpha) * x
            return x * (z >= 0 ? 1 / (1 + T.exp(-z)) : T.exp(z) / (1 + T.exp(z)))
        case let .clip(low, high): return x.isNaN ? x : Swift.min(Swift.max(x, T(low)), T(high))
        }
    }

    private static func softplusValue<T: KernelFloat>(_ x: T) -> T { x > 20 ? x : T.log(1 + T.exp(x)) }
}
