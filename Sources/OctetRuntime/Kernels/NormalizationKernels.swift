import Foundation
import OctetGraph

/// BatchNormalization (inference), LayerNormalization, InstanceNormalization, GroupNormalization.
enum NormalizationKernels {
    static func batchNorm(_ context: KernelContext) throws -> Tensor {
        let original = try context.input(0)
        if context.int("training_mode", 0) != 0 { throw KernelError("training_mode=1 is not supported (inference only)") }
        let x = try original.converted(to: .float32)
        let scale = try context.input(1).converted(to: .float32).scalars(as: Float.self)
        let bias = try context.input(2).converted(to: .float32).scalars(as: Float.self)
        let mean = try context.input(3).converted(to: .float32).scalars(as: Float.self)
        let variance = try context.input(4).converted(to: .float32).scalars(as: Float.self)
        let epsilon = context.float("epsilon", 1e-5)
        guard x.rank >= 2 else { throw KernelError("needs an input of rank ≥ 2") }
        let channels = x.shape[1]
        guard [scale, bias, mean, variance].allSatisfy({ $0.count == channels }) else {
            throw KernelError("scale, B, mean and var must each hold \(channels) values")
        }
        let size = x.shape[2...].reduce(1, *)
        let multiplier = (0..<channels).map { scale[$0] / (variance[$0] + epsilon).squareRoot() }
        let offset = (0..<channels).map { bias[$0] - mean[$0] * multiplier[$0] }
        let result = x.withElements(as: Float.self) { input in
            Tensor.buildOverwriting(Float.self, shape: x.shape) { out in
                let (source, target) = (UncheckedSendable(input), UncheckedSendable(out))
                ThreadPool.parallelFor(x.shape[0] * channels, minimumChunk: max(1, 32_768 / max(size, 1))) { planes in
                    for plane in planes {
                        let (scale, shift) = (multiplier[plane % channels], offset[plane % channels])
                        for i in plane * size..<(plane + 1) * size { target.value[i] = source.value[i] * scale + shift }
                    }
                }
            }
        }
        return try result.converted(to: original.dtype)
    }

    /// Normalizes each row of `rowSize` values: (x - mean) / sqrt(var + eps), in double precision.
    static func normalizeRows(_ values: inout [Double], rowSize: Int, epsilon: Double) -> (mean: [Double], inverseStd: [Double]) {
        let rows = rowSize == 0 ? 0 : values.count / rowSize
        var means = [Double](repeating: 0, count: rows)
        var inverse = [Double](repeating: 0, count: rows)
        for row in 0..<rows {
            let range = row * rowSize..<(row + 1) * rowSize
            let mean = values[range].reduce(0, +) / Double(rowSize)
            let variance = values[range].reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(rowSize)
            let scale = 1 / (variance + epsilon).squareRoot()
            for i in range { values[i] = (values[i] - mean) * scale }
            means[row] = mean
            inverse[row] = scale
        }
        return (means, inverse)
    }

    static func layerNorm(_ context: KernelContext) throws -> [Tensor] {
        let x = try context.input(0)
        let axis = try Layout.axis(context.int("axis", -1), rank: x.rank)
        let epsilon = Double(context.float("epsilon", 1e-5))
        let rowSize = x.shape[axis...].reduce(1, *)
        let normalizedShape = Array(x.shape[axis...])
        let scale = try context.input(1).converted(to: .float32)
        let bias = try context.optionalInput(2)?.converted(to: .float32)
        let stashType: DType = context.int("stash_type", 1) == 1 ? .float32 : x.dtype
        if x.dtype == .float32, scale.shape == normalizedShape, bias.map({ $0.shape == normalizedShape }) ?? true {
            return try layerNormRows(x, scale: scale, bias: bias, rowSize: rowSize, epsilon: epsilon, axis: axis, stashType: stashType)
        }
        // Other types, or scale/bias that broadcast: normalize in double, then scale and shift.
        var values = try x.doubles()
        let (means, inverse) = normalizeRows(&values, rowSize: rowSize, epsilon: epsilon)
        let normalized = try Tensor(shape: x.shape, scalars: values).converted(to: .float32)
        var result = try Broadcast.binary(normalized, scale, as: Float.self, Float.self, into: Float.self, *)
        if let bias {
            result = try Broadcast.binary(result, bias, as: Float.self, Float.self, into: Float.self, +)
        }
        let statsShape = x.shape.enumerated().map { $0.offset < axis ? $0.element : 1 }
        return [try result.converted(to: x.dtype),
                try Tensor(shape: statsShape, scalars: means).converted(to: stashType),
                try Tensor(shape: statsShape, scalars: inverse).converted(to: stashType)]
    }

    /// LayerNormalization over contiguous float32 rows with per-element scale and bias
    /// (statistics in double precision), rows in parallel.
    static func layerNormRows(_ x: Tensor, scale: Tensor, bias: Tensor?, rowSize: Int, epsilon: Double, axis: Int,
                              stashType: DType) throws -> [Tensor] {
        let rows = rowSize == 0 ? 0 : x.elementCount / rowSize
        var means = [Double](repeating: 0, count: rows)
        var inverses = [Double](repeating: 0, count: rows)
        let gamma = scale.scalars(as: Float.self)
        let beta = bias?.scalars(as: Float.self) ?? [Float](repeating: 0, count: rowSize)
        let result = x.withElements(as: Float.self) { input in
            Tensor.build(Float.self, shape: x.shape) { out in
                let (source, target) = (UncheckedSendable(input), UncheckedSendable(out))
                means.withUnsafeMutableBufferPointer { meanBuffer in
                    inverses.withUnsafeMutableBufferPointer { inverseBuffer in
                        let (meanOut, inverseOut) = (UncheckedSendable(meanBuffer), UncheckedSendable(inverseBuffer))
                        ThreadPool.parallelFor(rows, minimumChunk: max(1, 16_384 / max(rowSize, 1))) { range in
                            for row in range {
                                let start = row * rowSize
                                var sum = 0.0
                                for i in start..<start + rowSize { sum += Double(source.value[i]) }
                                let mean = sum / Double(rowSize)
                                var squares = 0.0
                                for i in start..<start + rowSize {
                                    let d = Double(source.value[i]) - mean
                                    squares += d * d
                                }
                                let inverse = 1 / (squares / Double(rowSize) + epsilon).squareRoot()
                                let (m, s) = (Float(mean), Float(inverse))
                                for j in 0..<rowSize {
                                    target.value[start + j] = (source.value[start + j] - m) * s * gamma[j] + beta[j]
                                }
                                meanOut.value[row] = mean
                                inverseOut.value[row] = inverse
                            }
                        }
                    }
                }
            }
        }
        let statsShape = x.shape.enumerated().map { $0.offset < axis ? $0.element : 1 }
        return [result, try Tensor(shape: statsShape, scalars: means).converted(to: stashType),
                try Tensor(shape: statsShape, scalars: inverses).converted(to: stashType)]
    }

    /// Instance and group normalization: rows are (batch, group) slices; scale and bias are
    /// per channel (or per group for GroupNormalization before opset 21).
    static func groupNorm(_ context: KernelContext, groups requested: Int?) throws -> Tensor {
        let x = try context.input(0)
        guard x.rank >= 2 else { throw KernelError("needs an input of rank ≥ 2") }
        let channels = x.shape[1]
        let groups = requested ?? channels
        guard groups > 0, channels % groups == 0 else { throw KernelError("\(channels) channels do not split into \(groups) groups") }
        let epsilon = Double(context.float("epsilon", 1e-5))
        let spatial = x.shape[2...].reduce(1, *)
        var values = try x.doubles()
        _ = normalizeRows(&values, rowSize: channels / groups * spatial, epsilon: epsilon)
        let scale = try context.input(1).doubles()
        let bias = try context.input(2).doubles()
        let perGroup = scale.count == groups && groups != channels
        for index in values.indices {
            let channel = index / spatial % channels
            let slot = perGroup ? channel / (channels / groups) : channel
            values[index] = values[index] * scale[slot] + bias[slot]
        }
        return try Tensor(shape: x.shape, scalars: values).converted(to: x.dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("BatchNormalization") { [try batchNorm($0)] }
        registry.register("LayerNormalization") { try layerNorm($0) }
        registry.register("InstanceNormalization") { [try groupNorm($0, groups: nil)] }
        registry.register("GroupNormalization") { context in [try groupNorm(context, groups: context.int("num_groups", 1))] }
    }
}
