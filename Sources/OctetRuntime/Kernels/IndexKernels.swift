import Foundation
import OctetGraph

/// Gather, GatherElements, GatherND, ScatterND, NonZero, OneHot.
enum IndexKernels {
    static func resolve(_ index: Int, _ dim: Int) throws -> Int {
        let resolved = index < 0 ? index + dim : index
        guard resolved >= 0 && resolved < dim else { throw KernelError("index \(index) is out of range for a dimension of size \(dim)") }
        return resolved
    }

    static func gather(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let indicesTensor = try context.input(1)
        guard data.rank >= 1 else { throw KernelError("data must have at least one dimension, got a scalar") }
        let axis = try Layout.axis(context.int("axis", 0), rank: data.rank)
        let indices = try indicesTensor.integers().map { try resolve($0, data.shape[axis]) }
        let shape = Array(data.shape[..<axis]) + indicesTensor.shape + Array(data.shape[(axis + 1)...])
        let inner = data.shape[(axis + 1)...].reduce(1, *)
        let dim = data.shape[axis]
        let block = indices.count * inner
        return try Layout.gather(data, shape: shape) { index in
            let outer = index / max(block, 1)
            let within = index % max(block, 1)
            return (outer * dim + indices[within / max(inner, 1)]) * inner + within % max(inner, 1)
        }
    }

    static func gatherElements(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let indicesTensor = try context.input(1)
        let axis = try Layout.axis(context.int("axis", 0), rank: data.rank)
        let indices = try indicesTensor.integers()
        let shape = indicesTensor.shape
        guard shape.count == data.rank else { throw KernelError("indices \(shape) must have the rank of data \(data.shape)") }
        let outStrides = Layout.strides(shape)
        let strides = Layout.strides(data.shape)
        let resolved = try indices.map { try resolve($0, data.shape[axis]) }
        return try Layout.gather(data, shape: shape) { index in
            var remainder = index
            var offset = 0
            for dimension in 0..<shape.count {
                let coordinate = remainder / outStrides[dimension]
                remainder %= outStrides[dimension]
                offset += (dimension == axis ? resolved[index] : coordinate) * strides[dimension]
            }
            return offset
        }
    }

    static func gatherND(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let indicesTensor = try context.input(1)
        let batchDims = context.int("batch_dims", 0)
        let indices = try indicesTensor.integers()
        guard batchDims >= 0, batchDims < min(data.rank, indicesTensor.rank), let depth = indicesTensor.shape.last,
              depth >= 1, depth <= data.rank - batchDims else {
            throw KernelError("indices of shape \(indicesTensor.shape) do not fit data of shape \(data.shape)")
        }
        let batch = data.shape[..<batchDims].reduce(1, *)
        let sliceShape = Array(data.shape[(batchDims + depth)...])
        let sliceSize = sliceShape.reduce(1, *)
        let shape = Array(indicesTensor.shape.dropLast()) + sliceShape
        let strides = Layout.strides(data.shape)
        let tuples = indices.count / max(depth, 1)
        let tuplesPerBatch = tuples / max(batch, 1)
        var starts = [Int](repeating: 0, count: tuples)
        for tuple in 0..<tuples {
            var offset = (tuple / max(tuplesPerBatch, 1)) * (batchDims > 0 ? strides[batchDims - 1] : 0)
            for position in 0..<depth {
                let axis = batchDims + position
                offset += try resolve(indices[tuple * depth + position], data.shape[axis]) * strides[axis]
            }
            starts[tuple] = offset
        }
        return try Layout.gather(data, shape: shape) { index in starts[index / max(sliceSize, 1)] + index % max(sliceSize, 1) }
    }

    static func scatterND(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let indicesTensor = try context.input(1)
        let updates = try context.input(2)
        let reduction = context.string("reduction", "none")
        let indices = try indicesTensor.integers()
        guard let depth = indicesTensor.shape.last, depth >= 1, depth <= data.rank else {
            throw KernelError("indices \(indicesTensor.shape) must end in a dimension of 1 to \(data.rank) for data \(data.shape)")
        }
        let strides = Layout.strides(data.shape)
        let sliceSize = data.shape[depth...].reduce(1, *)
        var values = try data.doubles()
        let updateValues = try updates.doubles()
        guard updateValues.count == indices.count / depth * sliceSize else {
            throw KernelError("updates \(updates.shape) do not match indices \(indicesTensor.shape) and data \(data.shape)")
        }
        for tuple in 0..<indices.count / max(depth, 1) {
            var offset = 0
            for position in 0..<depth { offset += try resolve(indices[tuple * depth + position], data.shape[position]) * strides[position] }
            for element in 0..<sliceSize {
                values[offset + element] = combine(reduction, values[offset + element], updateValues[tuple * sliceSize + element])
            }
        }
        return try Tensor(shape: data.shape, scalars: values).converted(to: data.dtype)
    }

    /// A scatter's new value for an element: the update, or the update combined by `reduction`.
    static func combine(_ reduction: String, _ current: Double, _ update: Double) -> Double {
        switch reduction {
        case "add": current + update
        case "mul": current * update
        case "max": max(current, update)
        case "min": min(current, update)
        default: update
        }
    }

    /// ScatterElements (and its older name Scatter): `updates` written at `indices` along `axis`.
    static func scatterElements(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let indicesTensor = try context.input(1)
        let updates = try context.input(2).doubles()
        let axis = try Layout.axis(context.int("axis", 0), rank: data.rank)
        let reduction = context.string("reduction", "none")
        let indices = try indicesTensor.integers()
        guard indicesTensor.shape.count == data.rank, updates.count == indices.count else {
            throw KernelError("indices \(indicesTensor.shape) and updates must have the rank of data \(data.shape) and one another's size")
        }
        var values = try data.doubles()
        let strides = Layout.strides(data.shape)
        let indexStrides = Layout.strides(indicesTensor.shape)
        for (position, rawIndex) in indices.enumerated() {
            var offset = 0
            var remainder = position
            for dimension in 0..<data.rank {
                let coordinate = remainder / indexStrides[dimension]
                remainder %= indexStrides[dimension]
                offset += (dimension == axis ? try resolve(rawIndex, data.shape[axis]) : coordinate) * strides[dimension]
            }
            values[offset] = combine(reduction, values[offset], updates[position])
        }
        return try Tensor(shape: data.shape, scalars: values).converted(to: data.dtype)
    }

    static func nonZero(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let values = try data.doubles()
        let strides = Layout.strides(data.shape)
        let hits = values.indices.filter { values[$0] != 0 }
        var result = [Int64](repeating: 0, count: data.rank * hits.count)
        for (column, flat) in hits.enumerated() {
            var remainder = flat
            for axis in 0..<data.rank {
                result[axis * hits.count + column] = Int64(remainder / strides[axis])
                remainder %= strides[axis]
            }
        }
        return Tensor(shape: [data.rank, hits.count], scalars: result)
    }

    static func oneHot(_ context: KernelContext) throws -> Tensor {
        let indicesTensor = try context.input(0)
        let depth = try context.input(1).integers().first ?? 0
        guard depth >= 0 else { throw KernelError("depth must not be negative, got \(depth)") }
        let values = try context.input(2)
        let pair = try values.doubles()
        guard pair.count == 2 else { throw KernelError("values must hold [off, on]") }
        let rank = indicesTensor.rank + 1
        let axis = try Layout.axis(context.int("axis", -1), rank: rank)
        var shape = indicesTensor.shape
        shape.insert(depth, at: axis)
        try Layout.check(shape, values.dtype)
        let indices = try indicesTensor.integers()
        let inner = indicesTensor.shape[axis...].reduce(1, *)
        var result = [Double](repeating: pair[0], count: shape.reduce(1, *))
        for (flat, rawIndex) in indices.enumerated() {
            let index = rawIndex < 0 ? rawIndex + depth : rawIndex
            guard index >= 0 && index < depth else { continue }
            let outer = flat / max(inner, 1)
            let within = flat % max(inner, 1)
            result[(outer * depth + index) * inner + within] = pair[1]
        }
        return try Tensor(shape: shape, scalars: result).converted(to: values.dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Gather") { [try gather($0)] }
        registry.register("GatherElements") { [try gatherElements($0)] }
        registry.register("GatherND") { [try gatherND($0)] }
        registry.register("ScatterND") { [try scatterND($0)] }
        registry.register("ScatterElements") { [try scatterElements($0)] }
        registry.register("Scatter") { [try scatterElements($0)] }
        registry.register("NonZero") { [try nonZero($0)] }
        registry.register("OneHot") { [try oneHot($0)] }
    }
}
