import Foundation
import OctetGraph

/// MaxUnpool and Col2Im: values written back to the positions a pooling or an unfolding took
/// them from.
enum FoldKernels {
    /// MaxUnpool: each value written at its flat index (from MaxPool's second output) into a
    /// zero tensor of the inferred (or given, larger) shape.
    static func maxUnpool(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let indices = try context.input(1).integers()
        guard let kernel = context.ints("kernel_shape"), kernel.count == x.rank - 2, x.rank >= 3, indices.count == x.elementCount else {
            throw KernelError("X \(x.shape) needs kernel_shape per spatial axis and one index per element")
        }
        let strides = context.ints("strides") ?? Array(repeating: 1, count: kernel.count)
        let pads = context.ints("pads") ?? Array(repeating: 0, count: 2 * kernel.count)
        guard strides.count == kernel.count, pads.count == 2 * kernel.count else { throw KernelError("strides and pads do not match kernel_shape") }
        guard (kernel + strides + pads).allSatisfy({ $0 >= 0 && $0 < Int(Int32.max) }) else {
            throw KernelError("kernel_shape \(kernel), strides \(strides) and pads \(pads) must lie in 0..<2^31")
        }
        var inferred = Array(x.shape[..<2])
        for axis in 0..<kernel.count {
            inferred.append((x.shape[axis + 2] - 1) * strides[axis] - pads[axis] - pads[axis + kernel.count] + kernel[axis])
        }
        try Layout.check(inferred, x.dtype)
        let shape = try context.optionalInput(2)?.integers() ?? inferred
        try Layout.check(shape, x.dtype)
        guard shape.count == inferred.count, zip(shape, inferred).allSatisfy({ $0 >= $1 }), inferred.allSatisfy({ $0 >= 0 }) else {
            throw KernelError("output_shape \(shape) must have rank \(inferred.count) and be at least the inferred \(inferred)")
        }
        let total = inferred.reduce(1, *)
        var dense = [Int?](repeating: nil, count: total)
        for (position, index) in indices.enumerated() {
            guard index >= 0, index < total else { throw KernelError("index \(index) is outside the unpooled tensor's \(total) elements") }
            dense[index] = position
        }
        let (outStrides, inferredStrides) = (Layout.strides(shape), Layout.strides(inferred))
        return try Layout.gatherOrZero(x, shape: shape) { index in
            let position = Layout.coordinates(index, strides: outStrides)
            guard zip(position, inferred).allSatisfy({ $0 < $1 }) else { return nil }
            return dense[zip(position, inferredStrides).reduce(0) { $0 + $1.0 * $1.1 }]
        }
    }

    /// Col2Im: sums columns [N, C·∏block, L] back into images [N, C, image_shape…].
    static func col2Im(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        let image = try context.input(1).integers()
        let block = try context.input(2).integers()
        let rank = image.count
        let dilations = context.ints("dilations") ?? Array(repeating: 1, count: rank)
        let pads = context.ints("pads") ?? Array(repeating: 0, count: 2 * rank)
        let strides = context.ints("strides") ?? Array(repeating: 1, count: rank)
        let blockSize = Checked.product(block) ?? 0
        guard input.rank == 3, block.count == rank, rank > 0, blockSize > 0, input.shape[1] % blockSize == 0,
              dilations.count == rank, strides.count == rank, pads.count == 2 * rank,
              (image + block + dilations + strides).allSatisfy({ $0 > 0 }),
              (image + block + dilations + strides + pads).allSatisfy({ $0 >= 0 && $0 < Int(Int32.max) }) else {
            throw KernelError("input \(input.shape), image_shape \(image) and block_shape \(block) do not fit together")
        }
        let columns = try (0..<rank).map { axis -> Int in
            guard let reach = Checked.multiply(dilations[axis], block[axis] - 1), reach < Int(Int32.max) else {
                throw KernelError("dilations \(dilations) and block_shape \(block) reach past 2^31")
            }
            return (image[axis] + pads[axis] + pads[axis + rank] - reach - 1) / strides[axis] + 1
        }
        guard columns.reduce(1, *) == input.shape[2], columns.allSatisfy({ $0 > 0 }) else {
            throw KernelError("input's last dimension \(input.shape[2]) is not the number of sliding blocks \(columns)")
        }
        let channels = input.shape[1] / blockSize
        try Layout.check([input.shape[0], channels] + image, input.dtype)
        let values = try input.doubles()
        let imageVolume = image.reduce(1, *)
        let (blockStrides, columnStrides, imageStrides) = (Layout.strides(block), Layout.strides(columns), Layout.strides(image))
        var out = [Double](repeating: 0, count: input.shape[0] * channels * imageVolume)
        for n in 0..<input.shape[0] {
            for c in 0..<channels {
                for k in 0..<blockSize {
                    let offset = Layout.coordinates(k, strides: blockStrides)
                    for l in 0..<input.shape[2] {
                        let column = Layout.coordinates(l, strides: columnStrides)
                        var flat = 0
                        var inside = true
                        for axis in 0..<rank {
                            let position = column[axis] * strides[axis] - pads[axis] + offset[axis] * dilations[axis]
                            if position < 0 || position >= image[axis] { inside = false; break }
                            flat += position * imageStrides[axis]
                        }
                        if inside {
                            out[(n * channels + c) * imageVolume + flat] += values[((n * input.shape[1]) + c * blockSize + k) * input.shape[2] + l]
                        }
                    }
                }
            }
        }
        return try Tensor(shape: [input.shape[0], channels] + image, scalars: out).converted(to: input.dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("MaxUnpool") { [try maxUnpool($0)] }
        registry.register("Col2Im") { [try col2Im($0)] }
    }
}
