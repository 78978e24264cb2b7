import Foundation
import OctetGraph

/// RandomUniform, RandomNormal, their *Like forms, Bernoulli and Multinomial. With a `seed`
/// attribute the values are the same on every run and machine (xoshiro256** seeded by
/// SplitMix64 from the seed's bits); without one each run draws a fresh seed.
enum RandomKernels {
    /// xoshiro256**, a small generator with a 256-bit state.
    struct Generator: RandomNumberGenerator {
        private var state: (UInt64, UInt64, UInt64, UInt64)

        /// A generator for `seed`, or a random one for `nil`.
        init(seed: Float?) {
            var mix: UInt64 = seed.map { UInt64($0.bitPattern) &+ 0x9E37_79B9_7F4A_7C15 } ?? UInt64.random(in: .min ... .max)
            func next() -> UInt64 {
                mix &+= 0x9E37_79B9_7F4A_7C15
                var z = mix
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
            state = (next(), next(), next(), next())
        }

        mutating func next() -> UInt64 {
            let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
            let t = state.1 << 17
            state.2 ^= state.0
            state.3 ^= state.1
            state.1 ^= state.2
            state.0 ^= state.3
            state.2 ^= t
            state.3 = state.3 << 45 | state.3 >> 19
            return result
        }

        /// A uniform double in [0, 1).
        mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

        /// A standard normal value (Box–Muller).
        mutating func normal() -> Double {
            let u = 1 - unit()
            return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * unit())
        }
    }

    static func generator(_ context: KernelContext) -> Generator {
        Generator(seed: context.has("seed") ? context.float("seed", 0) : nil)
    }

    /// The `dtype` attribute, or `fallback`.
    static func dtype(_ context: KernelContext, _ fallback: DType) throws -> DType {
        guard context.has("dtype") else { return fallback }
        guard let code = Int32(exactly: context.int("dtype", 0)), let dtype = DType(rawValue: code), dtype != .string else {
            throw KernelError("attribute 'dtype' = \(context.int("dtype", 0)) is not a numeric tensor type")
        }
        return dtype
    }

    /// The output shape: the `shape` attribute, or the first input's shape for the *Like forms.
    static func shape(_ context: KernelContext, like: Bool) throws -> [Int] {
        if like { return try context.input(0).shape }
        guard let shape = context.ints("shape"), shape.allSatisfy({ $0 >= 0 }) else {
            throw KernelError("attribute 'shape' must list non-negative dimensions")
        }
        try Layout.check(shape, .float64)
        return shape
    }

    static func uniform(_ context: KernelContext, like: Bool) throws -> Tensor {
        let shape = try shape(context, like: like)
        let (low, high) = (Double(context.float("low", 0)), Double(context.float("high", 1)))
        var random = generator(context)
        let values = (0..<shape.reduce(1, *)).map { _ in low + (high - low) * random.unit() }
        let fallback: DType = like ? try context.input(0).dtype : .float32
        return try Tensor(shape: shape, scalars: values).converted(to: try dtype(context, fallback))
    }

    static func normal(_ context: KernelContext, like: Bool) throws -> Tensor {
        let shape = try shape(context, like: like)
        let (mean, scale) = (Double(context.float("mean", 0)), Double(context.float("scale", 1)))
        var random = generator(context)
        let values = (0..<shape.reduce(1, *)).map { _ in mean + scale * random.normal() }
        let fallback: DType = like ? try context.input(0).dtype : .float32
        return try Tensor(shape: shape, scalars: values).converted(to: try dtype(context, fallback))
    }

    static func bernoulli(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        var random = generator(context)
        let values = try input.doubles().map { p in random.unit() < p ? 1.0 : 0.0 }
        return try Tensor(shape: input.shape, scalars: values).converted(to: try dtype(context, input.dtype))
    }

    /// Multinomial: `sample_size` class indices per row of unnormalized log-probabilities.
    static func multinomial(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        guard input.rank == 2, input.shape[1] > 0 else { throw KernelError("expects [batch, classes], got \(input.shape)") }
        let samples = context.int("sample_size", 1)
        guard samples >= 0 else { throw KernelError("sample_size must be non-negative") }
        let target = try dtype(context, .int32)
        guard target == .int32 || target == .int64 else { throw KernelError("dtype must be int32 or int64") }
        let (rows, classes) = (input.shape[0], input.shape[1])
        try Layout.check([rows, samples], .float64)
        let logits = try input.doubles()
        var random = generator(context)
        var out: [Double] = []
        for row in 0..<rows {
            let slice = logits[row * classes..<(row + 1) * classes]
            let peak = slice.max() ?? 0
            var cumulative: [Double] = []
            var total = 0.0
            for value in slice {
                total += Foundation.exp(value - peak)
                cumulative.append(total)
            }
            for _ in 0..<samples {
                let draw = random.unit() * total
                out.append(Double(cumulative.firstIndex { draw < $0 } ?? classes - 1))
            }
        }
        return try Tensor(shape: [rows, samples], scalars: out).converted(to: target)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("RandomUniform") { [try uniform($0, like: false)] }
        registry.register("RandomUniformLike") { [try uniform($0, like: true)] }
        registry.register("RandomNormal") { [try normal($0, like: false)] }
        registry.register("RandomNormalLike") { [try normal($0, like: true)] }
        registry.register("Bernoulli") { [try bernoulli($0)] }
        registry.register("Multinomial") { [try multinomial($0)] }
    }
}
