import Foundation
import OctetGraph

/// Cast, CastLike, Identity, Dropout (inference: identity and an all-true mask).
enum CastKernels {
    /// Converts `input`; with `saturate` off, float8 targets turn out-of-range values into NaN
    /// (or infinity for float8e5m2) instead of the largest finite value.
    static func cast(_ input: Tensor, to target: DType, saturate: Bool) throws -> Tensor {
        guard !saturate, input.dtype.isFloatingPoint, let limit = ReducedPrecision.largestFinite(target), target != .float4e2m1 else {
            return try input.converted(to: target)
        }
        let source = try input.doubles()
        var result = try Tensor(shape: input.shape, scalars: source.map { abs($0) > Double(limit) ? .nan : $0 }).converted(to: target)
        if target == .float8e5m2 {
            // float8e5m2 has infinities: overflow becomes ±inf (0x7C / 0xFC) rather than NaN.
            result.withUnsafeMutableBytes { bytes in
                for (index, value) in source.enumerated() where abs(value) > Double(limit) && !value.isNaN {
                    bytes[index] = value < 0 ? 0xFC : 0x7C
                }
            }
        }
        return result
    }

    static func target(_ code: Int) throws -> DType {
        guard let target = DType(onnxCode: Int32(code)) else { throw KernelError("unsupported target type code \(code)") }
        return target
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Cast") { context in
            [try cast(context.input(0), to: target(context.int("to", 0)), saturate: context.int("saturate", 1) != 0)]
        }
        registry.register("CastLike") { context in
            [try cast(context.input(0), to: context.input(1).dtype, saturate: context.int("saturate", 1) != 0)]
        }
        registry.register("Identity") { context in [try context.input(0)] }
        registry.register("Dropout") { context in
            let input = try context.input(0)
            return [input, Tensor(shape: input.shape, scalars: [Bool](repeating: true, count: input.elementCount))]
        }
    }
}
