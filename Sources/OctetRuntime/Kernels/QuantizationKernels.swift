import Foundation
import OctetGraph

/// QuantizeLinear and DequantizeLinear: per tensor, per axis or per block; integer and float8
/// targets.
enum QuantizationKernels {
    /// For each element of `x`, the index of its scale and zero point: one for the tensor, one
    /// per slice along `axis`, or (with `block_size`) one per block of that many elements along
    /// `axis`, the scale then having x's shape with that axis divided into blocks.
    /// - Throws: ``KernelError`` when the scale's shape fits none of these.
    static func parameterIndex(_ context: KernelContext, x: Tensor, scale: Tensor, name: String) throws -> (Int) -> Int {
        guard scale.elementCount > 0 else { throw KernelError("\(name) is empty") }
        guard scale.elementCount > 1 else { return { _ in 0 } }
        let axis = try Layout.axis(context.int("axis", 1), rank: x.rank)
        let block = context.int("block_size", 0)
        if block > 0 {
            var expected = x.shape
            expected[axis] = (x.shape[axis] + block - 1) / block
            guard scale.shape == expected else {
                throw KernelError("\(name) has shape \(scale.shape) but blocks of \(block) along axis \(axis) of \(x.shape) need \(expected)")
            }
            let inner = x.shape[(axis + 1)...].reduce(1, *)
            let (dim, blocks) = (x.shape[axis], expected[axis])
            return { index in
                let outer = index / (inner * dim)
                let coordinate = index / inner % dim
                return (outer * blocks + coordinate / block) * inner + index % inner
            }
        }
        guard scale.rank <= 1, x.rank > 0, x.shape[axis] == scale.elementCount else {
            throw KernelError("\(name) has \(scale.elementCount) values but axis \(axis) of x has \(x.rank > 0 ? x.shape[axis] : 0)")
        }
        let inner = x.shape[(axis + 1)...].reduce(1, *)
        let dim = x.shape[axis]
        return { index in index / inner % dim }
    }

    /// The clamping range for integer quantization targets (8-, 16-, 4-, 2-bit and int32).
    static func range(of dtype: DType) -> (Double, Double)? {
        guard dtype.bitWidth <= 32, dtype != .uint32, let range = dtype.integerRange else { return nil }
        return range
    }

    static func quantize(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let scale = try context.input(1)
        let zeroPoint = context.optionalInput(2)
        var target = zeroPoint?.dtype ?? .uint8
        if zeroPoint == nil, context.has("output_dtype"), let chosen = DType(onnxCode: Int32(context.int("output_dtype", 2))) {
            target = chosen
        }
        let values = try x.doubles()
        let scales = try scale.doubles()
        let zeros = try zeroPoint?.doubles() ?? [0]
        let slot = try parameterIndex(context, x: x, scale: scale, name: "y_scale")
        guard zeros.count == 1 || zeros.count == scales.count else {
            throw KernelError("y_zero_point holds \(zeros.count) values but y_scale \(scales.count)")
        }
        let saturate = context.int("saturate", 1) != 0
        var result = [Double](repeating: 0, count: values.count)
        // float32 x / float32 scale is divided in float32, as ONNX Runtime does: a quotient that
        // lands on k + 0.5 in float32 must round the same way.
        let single = x.dtype == .float32 && scale.dtype == .float32
        if let (low, high) = range(of: target) {
            for i in values.indices {
                let p = slot(i)
                let ratio = single ? Double(Float(values[i]) / Float(scales[p])) : values[i] / scales[p]
                let q = ratio.rounded(.toNearestOrEven) + zeros[zeros.count > 1 ? p : 0]
                result[i] = q.isNaN ? 0 : min(max(q, low), high)
            }
        } else if target.isFloatingPoint {
            for i in values.indices {
                let p = slot(i)
                var q = values[i] / scales[p] + zeros[zeros.count > 1 ? p : 0]
                if !saturate, q.isInfinite || abs(q) > 1e30 { q = target == .float8e5m2 ? q : .nan }
                result[i] = q
            }
        } else {
            throw KernelError("quantizing to \(target) is not supported")
        }
        return try Tensor(shape: x.shape, scalars: result).converted(to: target)
    }

    static func dequantize(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let scale = try context.input(1)
        let values = try x.doubles()
        let scales = try scale.doubles()
        let zeros = try context.optionalInput(2)?.doubles() ?? [0]
        let slot = try parameterIndex(context, x: x, scale: scale, name: "x_scale")
        guard zeros.count == 1 || zeros.count == scales.count else {
            throw KernelError("x_zero_point holds \(zeros.count) values but x_scale \(scales.count)")
        }
        var outputType = scale.dtype
        if context.has("output_dtype"), let chosen = DType(onnxCode: Int32(context.int("output_dtype", 1))) { outputType = chosen }
        if outputType == .float32 || outputType == .float16 || outputType == .bfloat16 {
            // As ONNX Runtime: the integer difference times the float32 scale, in float32.
            let floatScales = scales.map { Float($0) }
            let result = values.indices.map { i -> Float in
                let p = slot(i)
                return Float(values[i] - zeros[zeros.count > 1 ? p : 0]) * floatScales[p]
            }
            return try Tensor(shape: x.shape, scalars: result).converted(to: outputType)
        }
        let result = values.indices.map { i -> Double in
            let p = slot(i)
            return (values[i] - zeros[zeros.count > 1 ? p : 0]) * scales[p]
        }
        return try Tensor(shape: x.shape, scalars: result).converted(to: outputType)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("QuantizeLinear") { [try quantize($0)] }
        registry.register("DequantizeLinear") { [try dequantize($0)] }
    }
}
