import Foundation
import OctetGraph

/// Reshape, Flatten, Squeeze, Unsqueeze, Shape, Size, Expand, ConstantOfShape, Range.
enum ShapeKernels {
    static func int64(_ values: [Int]) -> Tensor { Tensor(shape: [values.count], scalars: values.map { Int64($0) }) }

    /// Axes from the `axes` input (opset ≥ `inputSince`) or attribute.
    static func axes(_ context: KernelContext, inputIndex: Int, inputSince: Int64) throws -> [Int]? {
        if context.opset >= inputSince {
            return try context.optionalInput(inputIndex)?.integers()
        }
        return context.ints("axes")
    }

    static func reshape(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let requested = try context.opset >= 5 ? context.input(1).integers() : (context.ints("shape") ?? [])
        let allowZero = context.int("allowzero", 0) != 0
        var shape = requested.enumerated().map { axis, dim in dim == 0 && !allowZero && axis < data.rank ? data.shape[axis] : dim }
        guard shape.filter({ $0 == -1 }).count <= 1, shape.allSatisfy({ $0 >= -1 }),
              let known = Checked.product(shape.filter { $0 != -1 }) else {
            throw KernelError("cannot reshape \(data.shape) to \(requested)")
        }
        if let inferred = shape.firstIndex(of: -1) {
            guard known > 0, data.elementCount % known == 0 else {
                throw KernelError("cannot reshape \(data.shape) to \(requested)")
            }
            shape[inferred] = data.elementCount / known
        }
        guard shape.allSatisfy({ $0 >= 0 }), Checked.product(shape) == data.elementCount else {
            throw KernelError("cannot reshape \(data.shape) (\(data.elementCount) elements) to \(requested)")
        }
        return data.unsafeReshaped(shape)
    }

    static func squeeze(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let chosen = try axes(context, inputIndex: 1, inputSince: 13)?.map { try Layout.axis($0, rank: data.rank) }
        var shape: [Int] = []
        for (axis, dim) in data.shape.enumerated() {
            if let chosen {
                if chosen.contains(axis) {
                    guard dim == 1 else { throw KernelError("cannot squeeze axis \(axis) of size \(dim)") }
                    continue
                }
            } else if dim == 1 {
                continue
            }
            shape.append(dim)
        }
        return data.unsafeReshaped(shape)
    }

    static func unsqueeze(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        guard let requested = try axes(context, inputIndex: 1, inputSince: 13) else { throw KernelError("axes are missing") }
        let rank = data.rank + requested.count
        let chosen = Set(try requested.map { try Layout.axis($0, rank: rank) })
        guard chosen.count == requested.count else { throw KernelError("axes \(requested) repeat") }
        var dims = data.shape.makeIterator()
        let shape = (0..<rank).map { chosen.contains($0) ? 1 : dims.next() ?? 1 }
        return data.unsafeReshaped(shape)
    }

    static func expand(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let target = try context.input(1).integers()
        let shape = try Broadcast.shape([data.shape, target])
        try Layout.check(shape, data.dtype)
        if data.dtype == .string { return Tensor(shape: shape, strings: Broadcast.expandStrings(data, to: shape)) }
        return Broadcast.expand(data, to: shape)
    }

    static func range(_ context: KernelContext) throws -> Tensor {
        let start = try context.input(0)
        let operands = try [start, context.input(1), context.input(2)]
        guard operands.allSatisfy({ $0.elementCount == 1 }) else {
            throw KernelError("start, limit and delta must be scalars, got shapes \(operands.map(\.shape))")
        }
        if start.dtype.isInteger {
            // Exact in 64-bit integers: doubles lose precision (and trap converting back) near Int64's limits.
            let (first, limit, delta) = try (operands[0].integers()[0], operands[1].integers()[0], operands[2].integers()[0])
            guard delta != 0 else { throw KernelError("delta must not be 0") }
            let (span, overflow) = delta > 0 ? limit.subtractingReportingOverflow(first) : first.subtractingReportingOverflow(limit)
            let magnitude = delta == Int.min ? Int.max : abs(delta)
            let count = overflow ? Int.max : (span > 0 ? (span - 1) / magnitude + 1 : 0)
            try Layout.check([count], start.dtype)
            return try Tensor(shape: [count], scalars: (0..<count).map { Int64(first &+ $0 &* delta) }).converted(to: start.dtype)
        }
        let (first, limit, delta) = try (operands[0].doubles()[0], operands[1].doubles()[0], operands[2].doubles()[0])
        guard delta != 0 else { throw KernelError("delta must not be 0") }
        let steps = ((limit - first) / delta).rounded(.up)
        guard steps.isFinite else { throw KernelError("start, limit and delta must be finite") }
        let count = Int(max(0, min(steps, 1e15)))
        try Layout.check([count], start.dtype)
        if start.dtype == .float32 {
            let (a, d) = (Float(first), Float(delta))
            return Tensor(shape: [count], scalars: (0..<count).map { a + Float($0) * d })
        }
        return try Tensor(shape: [count], scalars: (0..<count).map { first + Double($0) * delta }).converted(to: start.dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Reshape") { [try reshape($0)] }
        registry.register("Flatten") { context in
            let data = try context.input(0)
            let axis = context.int("axis", 1)
            let resolved = axis < 0 ? axis + data.rank : axis
            guard resolved >= 0 && resolved <= data.rank else { throw KernelError("axis \(axis) is out of range for rank \(data.rank)") }
            return [data.unsafeReshaped([data.shape[..<resolved].reduce(1, *), data.shape[resolved...].reduce(1, *)])]
        }
        registry.register("Squeeze") { [try squeeze($0)] }
        registry.register("Unsqueeze") { [try unsqueeze($0)] }
        registry.register("Shape") { context in
            let shape = try context.input(0).shape
            let rank = shape.count
            func clamp(_ value: Int) -> Int { min(max(value < 0 ? value + rank : value, 0), rank) }
            let start = clamp(context.int("start", 0))
            let end = clamp(context.has("end") ? context.int("end", rank) : rank)
            return [int64(start < end ? Array(shape[start..<end]) : [])]
        }
        registry.register("Size") { [Tensor(shape: [], scalars: [Int64(try $0.input(0).elementCount)])] }
        registry.register("Expand") { [try expand($0)] }
        registry.register("ConstantOfShape") { context in
            let shape = try context.input(0).integers()
            let value = context.tensor("value") ?? Tensor(shape: [1], scalars: [Float(0)])
            try Layout.check(shape, value.dtype)
            return [Broadcast.expand(value.unsafeReshaped([]), to: shape)]
        }
        registry.register("Range") { [try range($0)] }
        registry.register("Constant") { context in
            guard let value = context.node.constantValue else { throw KernelError("unsupported Constant attribute") }
            return [value]
        }
    }
}
