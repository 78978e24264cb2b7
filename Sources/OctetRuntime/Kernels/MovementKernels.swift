import Foundation
import OctetGraph

/// Transpose, Concat, Split, Slice, Tile, Pad, DepthToSpace, SpaceToDepth, Trilu.
enum MovementKernels {
    static func split(_ context: KernelContext) throws -> [Tensor] {
        let data = try context.input(0)
        let axis = try Layout.axis(context.int("axis", 0), rank: data.rank)
        let outputs = context.node.outputs.count
        var sizes: [Int]
        if context.opset >= 13, let given = context.optionalInput(1) {
            sizes = try given.integers()
        } else if let given = context.ints("split") {
            sizes = given
        } else {
            let parts = context.opset >= 18 && context.has("num_outputs") ? context.int("num_outputs", outputs) : outputs
            guard parts >= 1, parts <= max(outputs, 1) else {
                throw KernelError("num_outputs must be between 1 and the node's \(outputs) outputs, got \(parts)")
            }
            let chunk = (data.shape[axis] + parts - 1) / parts
            sizes = (0..<parts).map { min(chunk, max(0, data.shape[axis] - $0 * chunk)) }
        }
        guard sizes.allSatisfy({ $0 >= 0 }), Checked.sum(sizes) == data.shape[axis] else {
            throw KernelError("split sizes \(sizes) do not add up to \(data.shape[axis]) along axis \(axis)")
        }
        var start = 0
        return try sizes.map { size in
            defer { start += size }
            return try Layout.narrow(data, axis: axis, start: start, end: start + size)
        }
    }

    static func slice(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let starts: [Int], ends: [Int], axes: [Int], steps: [Int]
        if context.opset >= 10 {
            starts = try context.input(1).integers()
            ends = try context.input(2).integers()
            axes = try context.optionalInput(3)?.integers() ?? Array(0..<starts.count)
            steps = try context.optionalInput(4)?.integers() ?? [Int](repeating: 1, count: starts.count)
        } else {
            starts = context.ints("starts") ?? []
            ends = context.ints("ends") ?? []
            axes = context.ints("axes") ?? Array(0..<starts.count)
            steps = [Int](repeating: 1, count: starts.count)
        }
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw KernelError("starts, ends, axes and steps must have the same length, got \(starts.count), \(ends.count), \(axes.count) and \(steps.count)")
        }
        var begin = [Int](repeating: 0, count: data.rank)
        var step = [Int](repeating: 1, count: data.rank)
        var shape = data.shape
        for (position, rawAxis) in axes.enumerated() {
            let axis = try Layout.axis(rawAxis, rank: data.rank)
            let dim = data.shape[axis]
            let stride = steps[position]
            guard stride != 0 else { throw KernelError("slice step must not be 0") }
            var start = starts[position] < 0 ? starts[position] + dim : starts[position]
            var end = ends[position] < 0 ? ends[position] + dim : ends[position]
            if ends[position] >= Int(Int32.max) { end = dim }
            if ends[position] <= Int(Int32.min) { end = -1 }
            if stride > 0 {
                start = min(max(start, 0), dim)
                end = min(max(end, 0), dim)
                shape[axis] = end > start ? (end - start - 1) / stride + 1 : 0
            } else {
                start = min(max(start, 0), dim - 1)
                end = min(max(end, -1), dim - 1)
                // -Int.min overflows; any step that large takes one element.
                let magnitude = stride == Int.min ? Int.max : -stride
                shape[axis] = start > end ? (start - end - 1) / magnitude + 1 : 0
            }
            begin[axis] = start
            step[axis] = stride
        }
        let strides = Layout.strides(data.shape)
        return try Layout.gather(data, shape: shape) { axis, coordinate in (begin[axis] + coordinate * step[axis]) * strides[axis] }
    }

    static func tile(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let repeats = try context.input(1).integers()
        guard repeats.count == data.rank else { throw KernelError("repeats \(repeats) must have one entry per axis of \(data.shape)") }
        guard repeats.allSatisfy({ $0 >= 0 }) else { throw KernelError("repeats \(repeats) must not be negative") }
        let shape = zip(data.shape, repeats).map { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        try Layout.check(shape, data.dtype)
        let strides = Layout.strides(data.shape)
        return try Layout.gather(data, shape: shape) { axis, coordinate in coordinate % data.shape[axis] * strides[axis] }
    }

    static func pad(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let rank = data.rank
        let mode = context.string("mode", "constant")
        var pads: [Int]
        var fill: Tensor?
        if context.opset >= 11 {
            pads = try context.input(1).integers()
            fill = context.optionalInput(2)
            if let axesTensor = context.optionalInput(3) {
                let axes = try axesTensor.integers().map { try Layout.axis($0, rank: rank) }
                var full = [Int](repeating: 0, count: 2 * rank)
                guard pads.count == 2 * axes.count else {
                    throw KernelError("pads \(pads) must have 2 × \(axes.count) entries, one pair per axis in axes \(axes)")
                }
                for (position, axis) in axes.enumerated() {
                    full[axis] = pads[position]
                    full[axis + rank] = pads[position + axes.count]
                }
                pads = full
            }
        } else {
            pads = context.ints("pads") ?? []
            fill = Tensor(shape: [], scalars: [context.float("value", 0)])
        }
        guard pads.count == 2 * rank else { throw KernelError("pads \(pads) must have 2 × rank = \(2 * rank) entries") }
        let shape = try (0..<rank).map { try Size.add(data.shape[$0], pads[$0], pads[$0 + rank], for: "the padded size of axis \($0)") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw KernelError("pads \(pads) shrink \(data.shape) below zero") }
        try Layout.check(shape, data.dtype)
        if mode != "constant", let axis = (0..<rank).first(where: { data.shape[$0] == 0 && shape[$0] > 0 }) {
            throw KernelError("\(mode) padding cannot fill axis \(axis): the input is empty along it")
        }
        let strides = Layout.strides(data.shape)
        let outStrides = Layout.strides(shape)
        // Index -1 marks a constant-filled position; the source is then a one-element tensor.
        let fillValue = try (fill ?? Tensor(shape: [], scalars: [Float(0)])).converted(to: data.dtype)
        let extended = try Layout.concat([data.unsafeReshaped([data.elementCount]), fillValue.unsafeReshaped([1])], axis: 0)
        let fillIndex = data.elementCount
        return try Layout.gather(extended, shape: shape) { index in
            var remainder = index
            var offset = 0
            for axis in 0..<rank {
                var coordinate = remainder / outStrides[axis] - pads[axis]
                remainder %= outStrides[axis]
                let dim = data.shape[axis]
                if coordinate < 0 || coordinate >= dim {
                    switch mode {
                    case "reflect":
                        guard dim > 1 else { coordinate = 0; break }
                        let period = 2 * (dim - 1)
                        coordinate = ((coordinate % period) + period) % period
                        if coordinate >= dim { coordinate = period - coordinate }
                    case "edge": coordinate = min(max(coordinate, 0), dim - 1)
                    case "wrap": coordinate = ((coordinate % dim) + dim) % dim
                    default: return fillIndex
                    }
                }
                offset += coordinate * strides[axis]
            }
            return offset
        }
    }

    static func depthToSpace(_ context: KernelContext, inverse: Bool) throws -> Tensor {
        let data = try context.input(0)
        guard data.rank == 4 else { throw KernelError("expects a 4-D tensor, got \(data.shape)") }
        let block = context.int("blocksize", 1)
        guard block >= 1 else { throw KernelError("blocksize must be at least 1, got \(block)") }
        let (n, c, h, w) = (data.shape[0], data.shape[1], data.shape[2], data.shape[3])
        let area = try Size.multiply(block, block, for: "blocksize²")
        _ = try Size.multiply(max(c, 1), area, for: "the output channels")
        _ = try Size.multiply(max(h, 1), max(w, 1), area, for: "the output area")
        if inverse {
            guard h % block == 0, w % block == 0 else { throw KernelError("height and width must divide by blocksize \(block)") }
            let staged = data.unsafeReshaped([n, c, h / block, block, w / block, block])
            let crd = context.string("mode", "DCR") == "CRD"
            return try Layout.transpose(staged, crd ? [0, 1, 3, 5, 2, 4] : [0, 3, 5, 1, 2, 4])
                .unsafeReshaped([n, c * area, h / block, w / block])
        }
        guard c % (area) == 0 else { throw KernelError("channels \(c) must divide by blocksize² = \(area)") }
        let crd = context.string("mode", "DCR") == "CRD"
        let staged = crd ? data.unsafeReshaped([n, c / (area), block, block, h, w])
            : data.unsafeReshaped([n, block, block, c / (area), h, w])
        let permuted = try Layout.transpose(staged, crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2])
        return permuted.unsafeReshaped([n, c / (area), h * block, w * block])
    }

    static func trilu(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        guard data.rank >= 2 else { throw KernelError("expects at least 2 dimensions, got \(data.shape)") }
        let k = try context.optionalInput(1)?.integers().first ?? 0
        let upper = context.int("upper", 1) != 0
        let (rows, columns) = (data.shape[data.rank - 2], data.shape[data.rank - 1])
        let zero = Tensor(zeros: data.dtype, shape: [1])
        let extended = try Layout.concat([data.unsafeReshaped([data.elementCount]), zero], axis: 0)
        return try Layout.gather(extended, shape: data.shape) { index in
            let column = index % columns
            let row = index / columns % max(rows, 1)
            let keep = upper ? column - row >= k : column - row <= k
            return keep ? index : data.elementCount
        }
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Transpose") { context in
            let data = try context.input(0)
            return [try Layout.transpose(data, context.ints("perm") ?? Array((0..<data.rank).reversed()))]
        }
        registry.register("Concat") { context in
            let inputs = context.inputs.compactMap { $0 }
            guard let first = inputs.first else { throw KernelError("needs at least one input") }
            return [try Layout.concat(inputs, axis: Layout.axis(context.int("axis", 0), rank: first.rank))]
        }
        registry.register("Split") { try split($0) }
        registry.register("Slice") { [try slice($0)] }
        registry.register("Tile") { [try tile($0)] }
        registry.register("Pad") { [try pad($0)] }
        registry.register("DepthToSpace") { [try depthToSpace($0, inverse: false)] }
        registry.register("SpaceToDepth") { [try depthToSpace($0, inverse: true)] }
        registry.register("Trilu") { [try trilu($0)] }
    }
}
