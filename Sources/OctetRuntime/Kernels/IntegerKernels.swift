import Foundation
import OctetGraph

/// MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv and DynamicQuantizeLinear: the
/// operators of QOperator-format models (int8/uint8 inputs, exact int32 accumulation).
enum IntegerKernels {
    /// `tensor` minus its zero point as exact integers. The zero point is a scalar, or 1-D with
    /// one value per index of `axis` (rows of A, columns of B, output channels of W).
    static func centered(_ tensor: Tensor, zeroPoint: Tensor?, axis: Int, name: String) throws -> [Int64] {
        guard [.int8, .uint8, .int16, .uint16, .int32].contains(tensor.dtype) else {
            throw KernelError("\(name) must be an 8- or 16-bit integer tensor, got \(tensor.dtype)")
        }
        let values = try tensor.integers().map(Int64.init)
        guard let zeroPoint else { return values }
        guard zeroPoint.dtype == tensor.dtype else {
            throw KernelError("\(name)'s zero point is \(zeroPoint.dtype), expected \(tensor.dtype)")
        }
        let zeros = try zeroPoint.integers().map(Int64.init)
        if zeros.count == 1 { return values.map { $0 - zeros[0] } }
        guard axis >= 0, axis < tensor.rank, zeros.count == tensor.shape[axis] else {
            throw KernelError("\(name)'s zero point holds \(zeros.count) values; expected 1 or \(axis < tensor.rank && axis >= 0 ? tensor.shape[axis] : 1)")
        }
        let inner = tensor.shape[(axis + 1)...].reduce(1, *)
        return values.indices.map { values[$0] - zeros[$0 / inner % zeros.count] }
    }

    /// Batched integer matrix product with NumPy broadcasting of the batch axes.
    static func matmul(_ a: [Int64], _ aShape: [Int], _ b: [Int64], _ bShape: [Int]) throws -> (values: [Int64], shape: [Int]) {
        var (aShape, bShape) = (aShape, bShape)
        let (promoteA, promoteB) = (aShape.count == 1, bShape.count == 1)
        if promoteA { aShape = [1] + aShape }
        if promoteB { bShape = bShape + [1] }
        guard aShape.count >= 2, bShape.count >= 2, aShape[aShape.count - 1] == bShape[bShape.count - 2] else {
            throw KernelError("inner dimensions differ: \(aShape) × \(bShape)")
        }
        let (m, k, n) = (aShape[aShape.count - 2], aShape[aShape.count - 1], bShape[bShape.count - 1])
        let batch = try Broadcast.shape([Array(aShape.dropLast(2)), Array(bShape.dropLast(2))])
        let aStrides = Broadcast.strides(of: Array(aShape.dropLast(2)), in: batch)
        let bStrides = Broadcast.strides(of: Array(bShape.dropLast(2)), in: batch)
        let batchStrides = Layout.strides(batch)
        let count = batch.reduce(1, *)
        try Layout.check(batch + [m, n], .int64)
        var out = [Int64](repeating: 0, count: count * m * n)
        for index in 0..<count {
            let position = Layout.coordinates(index, strides: batchStrides)
            let ia = zip(position, aStrides).reduce(0) { $0 + $1.0 * $1.1 } * m * k
            let ib = zip(position, bStrides).reduce(0) { $0 + $1.0 * $1.1 } * k * n
            for i in 0..<m {
                for p in 0..<k {
                    let x = a[ia + i * k + p]
                    if x == 0 { continue }
                    for j in 0..<n { out[(index * m + i) * n + j] &+= x &* b[ib + p * n + j] }
                }
            }
        }
        var shape = batch + [m, n]
        if promoteA { shape.remove(at: shape.count - 2) }
        if promoteB { shape.removeLast() }
        return (out, shape)
    }

    /// Integer convolution (any spatial rank, groups) of centred X and W.
    static func conv(_ context: KernelContext, x: [Int64], xShape: [Int], w: [Int64], wShape: [Int]) throws -> (values: [Int64], shape: [Int]) {
        guard xShape.count >= 3, wShape.count == xShape.count else {
            throw KernelError("X \(xShape) and W \(wShape) must have the same rank ≥ 3")
        }
        let group = context.int("group", 1)
        let (batch, channels, filters) = (xShape[0], xShape[1], wShape[0])
        guard group > 0, channels % group == 0, filters % group == 0, wShape[1] == channels / group else {
            throw KernelError("W \(wShape) does not match \(channels) input channels in \(group) group(s)")
        }
        let kernel = Array(wShape[2...])
        let geometry = try ConvGeometry(context: context, input: Array(xShape[2...]), kernel: kernel)
        let indices = geometry.inputIndices()
        let (inputVolume, outputVolume, kernelVolume) = (geometry.inputVolume, geometry.outputVolume, geometry.kernelVolume)
        let (perGroupIn, perGroupOut) = (channels / group, filters / group)
        let shape = [batch, filters] + geometry.output
        try Layout.check(shape, .int64)
        var out = [Int64](repeating: 0, count: batch * filters * outputVolume)
        for n in 0..<batch {
            for f in 0..<filters {
                let g = f / perGroupOut
                let target = (n * filters + f) * outputVolume
                for c in 0..<perGroupIn {
                    let source = (n * channels + g * perGroupIn + c) * inputVolume
                    let weights = (f * perGroupIn + c) * kernelVolume
                    for kk in 0..<kernelVolume {
                        let weight = w[weights + kk]
                        if weight == 0 { continue }
                        for o in 0..<outputVolume {
                            let index = indices[kk * outputVolume + o]
                            if index >= 0 { out[target + o] &+= weight &* x[source + Int(index)] }
                        }
                    }
                }
            }
        }
        return (out, shape)
    }

    /// int32 results, wrapping as int32 accumulation does.
    static func int32Tensor(_ values: [Int64], shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: values.map { Int32(truncatingIfNeeded: $0) })
    }

    /// Requantizes accumulators: round(acc · scale(i) / yScale) + yZero, saturated to `dtype`.
    static func requantize(_ values: [Int64], shape: [Int], scale: (Int) -> Double, yScale: Double, yZero: Double,
                           dtype: DType) throws -> Tensor {
        guard let (low, high) = QuantizationKernels.range(of: dtype) else { throw KernelError("cannot quantize to \(dtype)") }
        let result = values.indices.map { i -> Double in
            let q = (Double(values[i]) * scale(i) / yScale).rounded(.toNearestOrEven) + yZero
            return Swift.min(Swift.max(q, low), high)
        }
        return try Tensor(shape: shape, scalars: result).converted(to: dtype)
    }

    /// A scale input as doubles (after rounding to float32 if stored wider, as kernels compute).
    static func scales(_ tensor: Tensor, name: String) throws -> [Double] {
        let values = try tensor.doubles()
        guard !values.isEmpty, values.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw KernelError("\(name) must hold positive finite values")
        }
        return values
    }

    static func matMulInteger(_ context: KernelContext) throws -> Tensor {
        let (a, b) = (try context.input(0), try context.input(1))
        let ca = try centered(a, zeroPoint: context.optionalInput(2), axis: a.rank - 2, name: "A")
        let cb = try centered(b, zeroPoint: context.optionalInput(3), axis: b.rank - 1, name: "B")
        let (values, shape) = try matmul(ca, a.shape, cb, b.shape)
        return int32Tensor(values, shape: shape)
    }

    static func convInteger(_ context: KernelContext) throws -> Tensor {
        let (x, w) = (try context.input(0), try context.input(1))
        let cx = try centered(x, zeroPoint: context.optionalInput(2), axis: 1, name: "x")
        let cw = try centered(w, zeroPoint: context.optionalInput(3), axis: 0, name: "w")
        let (values, shape) = try conv(context, x: cx, xShape: x.shape, w: cw, wShape: w.shape)
        return int32Tensor(values, shape: shape)
    }

    static func qLinearMatMul(_ context: KernelContext) throws -> Tensor {
        let (a, b) = (try context.input(0), try context.input(3))
        let aScales = try scales(context.input(1), name: "a_scale")
        let bScales = try scales(context.input(4), name: "b_scale")
        let yScale = try scales(context.input(6), name: "y_scale")[0]
        let yZeroTensor = try context.input(7)
        let ca = try centered(a, zeroPoint: context.optionalInput(2), axis: a.rank - 2, name: "a")
        let cb = try centered(b, zeroPoint: context.optionalInput(5), axis: b.rank - 1, name: "b")
        let (values, shape) = try matmul(ca, a.shape, cb, b.shape)
        let (m, n) = (a.rank >= 2 ? a.shape[a.rank - 2] : 1, b.rank >= 2 ? b.shape[b.rank - 1] : 1)
        guard aScales.count == 1 || aScales.count == m, bScales.count == 1 || bScales.count == n else {
            throw KernelError("a_scale (\(aScales.count) values) and b_scale (\(bScales.count)) must be scalars or per row / column")
        }
        let yZero = try yZeroTensor.doubles().first ?? 0
        return try requantize(values, shape: shape, scale: { i in
            let row = i / n % m
            return aScales[aScales.count == 1 ? 0 : row] * bScales[bScales.count == 1 ? 0 : i % n]
        }, yScale: yScale, yZero: yZero, dtype: yZeroTensor.dtype)
    }

    static func qLinearConv(_ context: KernelContext) throws -> Tensor {
        let (x, w) = (try context.input(0), try context.input(3))
        let xScale = try scales(context.input(1), name: "x_scale")[0]
        let wScales = try scales(context.input(4), name: "w_scale")
        let yScale = try scales(context.input(6), name: "y_scale")[0]
        let yZeroTensor = try context.input(7)
        let cx = try centered(x, zeroPoint: context.optionalInput(2), axis: 1, name: "x")
        let cw = try centered(w, zeroPoint: context.optionalInput(5), axis: 0, name: "w")
        var (values, shape) = try conv(context, x: cx, xShape: x.shape, w: cw, wShape: w.shape)
        let filters = w.shape[0]
        guard wScales.count == 1 || wScales.count == filters else {
            throw KernelError("w_scale holds \(wScales.count) values; expected 1 or \(filters)")
        }
        let plane = shape[2...].reduce(1, *)
        if let bias = try context.optionalInput(8)?.integers() {
            guard bias.count == filters else { throw KernelError("B holds \(bias.count) values but W has \(filters) filters") }
            for i in values.indices { values[i] &+= Int64(bias[i / plane % filters]) }
        }
        let yZero = try yZeroTensor.doubles().first ?? 0
        return try requantize(values, shape: shape, scale: { i in
            xScale * wScales[wScales.count == 1 ? 0 : i / plane % filters]
        }, yScale: yScale, yZero: yZero, dtype: yZeroTensor.dtype)
    }

    /// uint8 quantization with a scale and zero point chosen from the tensor's own range (0 included).
    static func dynamicQuantizeLinear(_ context: KernelContext) throws -> [Tensor] {
        let x = try context.input(0)
        guard x.dtype == .float32 else { throw KernelError("expects a float32 tensor, got \(x.dtype)") }
        let values = x.scalars(as: Float.self)
        guard values.allSatisfy(\.isFinite) else { throw KernelError("x holds NaN or infinite values, which have no uint8 range") }
        let high = Swift.max(0, values.max() ?? 0)
        let low = Swift.min(0, values.min() ?? 0)
        let scale: Float = (high == low ? 1 : high - low) / 255
        let zero = Swift.max(0, Swift.min(255, (0 - low / scale))).rounded(.toNearestOrEven)
        let quantized = values.map { UInt8(Swift.max(0, Swift.min(255, ($0 / scale).rounded(.toNearestOrEven) + zero))) }
        return [Tensor(shape: x.shape, scalars: quantized), Tensor(shape: [], scalars: [scale]),
                Tensor(shape: [], scalars: [UInt8(zero)])]
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("MatMulInteger") { [try matMulInteger($0)] }
        registry.register("ConvInteger") { [try convInteger($0)] }
        registry.register("QLinearMatMul") { [try qLinearMatMul($0)] }
        registry.register("QLinearConv") { [try qLinearConv($0)] }
        registry.register("DynamicQuantizeLinear") { try dynamicQuantizeLinear($0) }
    }
}
