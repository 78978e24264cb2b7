import Foundation
import OctetGraph

/// EyeLike, Compress, ReverseSequence, CenterCropPad, Unique and Det.
enum SelectionKernels {
    static func eyeLike(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        guard input.rank == 2 else { throw KernelError("expects a 2-D input, got shape \(input.shape)") }
        var dtype = input.dtype
        if context.has("dtype") {
            guard let code = Int32(exactly: context.int("dtype", 0)), let requested = DType(rawValue: code) else {
                throw KernelError("attribute 'dtype' = \(context.int("dtype", 0)) is not a tensor type")
            }
            dtype = requested
        }
        let k = context.int("k", 0)
        let (rows, columns) = (input.shape[0], input.shape[1])
        var values = [Double](repeating: 0, count: rows * columns)
        for i in 0..<rows {
            let (j, overflow) = i.addingReportingOverflow(k)
            if !overflow, j >= 0, j < columns { values[i * columns + j] = 1 }
        }
        return try Tensor(shape: input.shape, scalars: values).converted(to: dtype)
    }

    static func compress(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        let condition = try context.input(1)
        guard condition.rank == 1 else { throw KernelError("condition must be 1-D, got shape \(condition.shape)") }
        let flags = try condition.doubles().map { $0 != 0 }
        let data = context.has("axis") ? input : input.unsafeReshaped([input.elementCount])
        let axis = context.has("axis") ? try Layout.axis(context.int("axis", 0), rank: input.rank) : 0
        guard flags.count <= data.shape[axis] || flags.dropFirst(data.shape[axis]).allSatisfy({ !$0 }) else {
            throw KernelError("condition selects index \(flags.lastIndex(of: true) ?? 0) past axis \(axis)'s size \(data.shape[axis])")
        }
        let kept = flags.indices.filter { flags[$0] && $0 < data.shape[axis] }
        var shape = data.shape
        shape[axis] = kept.count
        let strides = Layout.strides(data.shape)
        return try Layout.gather(data, shape: shape) { axisIndex, coordinate in
            (axisIndex == axis ? kept[coordinate] : coordinate) * strides[axisIndex]
        }
    }

    static func reverseSequence(_ context: KernelContext) throws -> Tensor {
        let data = try context.input(0)
        let lengths = try context.input(1).integers()
        guard data.rank >= 2 else { throw KernelError("expects input of rank ≥ 2, got shape \(data.shape)") }
        let batchAxis = try Layout.axis(context.int("batch_axis", 1), rank: data.rank)
        let timeAxis = try Layout.axis(context.int("time_axis", 0), rank: data.rank)
        guard batchAxis != timeAxis, batchAxis <= 1, timeAxis <= 1 else {
            throw KernelError("batch_axis and time_axis must be 0 and 1 in some order")
        }
        guard lengths.count == data.shape[batchAxis] else {
            throw KernelError("sequence_lens has \(lengths.count) entries for a batch of \(data.shape[batchAxis])")
        }
        for length in lengths where length < 0 || length > data.shape[timeAxis] {
            throw KernelError("sequence length \(length) is outside 0...\(data.shape[timeAxis])")
        }
        let strides = Layout.strides(data.shape)
        return try Layout.gather(data, shape: data.shape) { index in
            var position = Layout.coordinates(index, strides: strides)
            let length = lengths[position[batchAxis]]
            if position[timeAxis] < length { position[timeAxis] = length - 1 - position[timeAxis] }
            return zip(position, strides).reduce(0) { $0 + $1.0 * $1.1 }
        }
    }

    /// CenterCropPad: each listed axis is cropped or zero-padded around its centre to `shape`.
    static func centerCropPad(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        let sizes = try context.input(1).integers()
        let axes = try (context.ints("axes") ?? Array(0..<input.rank)).map { try Layout.axis($0, rank: input.rank) }
        guard sizes.count == axes.count, Set(axes).count == axes.count else {
            throw KernelError("shape has \(sizes.count) entries for \(axes.count) distinct axes")
        }
        var shape = input.shape
        var shift = [Int](repeating: 0, count: input.rank)  // input coordinate = output coordinate + shift
        for (axis, size) in zip(axes, sizes) {
            guard size >= 0 else { throw KernelError("shape entry \(size) for axis \(axis) is negative") }
            shape[axis] = size
            shift[axis] = size <= input.shape[axis] ? (input.shape[axis] - size) / 2 : -((size - input.shape[axis]) / 2)
        }
        try Layout.check(shape, input.dtype)
        let (outStrides, inStrides) = (Layout.strides(shape), Layout.strides(input.shape))
        return try Layout.gatherOrZero(input, shape: shape) { index in
            var offset = 0
            for (axis, coordinate) in Layout.coordinates(index, strides: outStrides).enumerated() {
                let source = coordinate + shift[axis]
                guard source >= 0, source < input.shape[axis] else { return nil }
                offset += source * inStrides[axis]
            }
            return offset
        }
    }

    /// Unique slices (elements, or slices along `axis`), sorted or in order of first occurrence,
    /// with first indices, inverse indices and counts.
    static func unique(_ context: KernelContext) throws -> [Tensor] {
        let input = try context.input(0)
        let hasAxis = context.has("axis")
        let axis = hasAxis ? try Layout.axis(context.int("axis", 0), rank: input.rank) : 0
        let data = hasAxis ? input : input.unsafeReshaped([input.elementCount])
        let moved = try Layout.transpose(data, [axis] + (0..<data.rank).filter { $0 != axis })
        let count = data.shape[axis]
        let width = count == 0 ? 0 : moved.elementCount / count
        let values = input.dtype == .string ? [] : try moved.doubles()
        let strings = input.dtype == .string ? moved.strings : []
        func less(_ a: Int, _ b: Int) -> Bool {
            for k in 0..<width {
                if input.dtype == .string {
                    let (x, y) = (strings[a * width + k], strings[b * width + k])
                    if x != y { return x.lexicographicallyPrecedes(y) }
                } else {
                    let (x, y) = (values[a * width + k], values[b * width + k])
                    if x != y { return x < y }
                }
            }
            return false
        }
        func equal(_ a: Int, _ b: Int) -> Bool { !less(a, b) && !less(b, a) }
        // Slices in sorted order (stable), grouped into runs of equal slices.
        let order = (0..<count).sorted { less($0, $1) || (!less($1, $0) && $0 < $1) }
        var groups: [[Int]] = []
        for slice in order {
            if let last = groups.last?.first, equal(last, slice) { groups[groups.count - 1].append(slice) } else { groups.append([slice]) }
        }
        if context.int("sorted", 1) == 0 { groups.sort { $0[0] < $1[0] } }
        var inverse = [Int64](repeating: 0, count: count)
        for (position, group) in groups.enumerated() { for slice in group { inverse[slice] = Int64(position) } }
        let firsts = groups.map { $0[0] }
        var shape = moved.shape
        shape[0] = groups.count
        let picked = try Layout.gather(moved, shape: shape) { index in firsts[index / max(width, 1)] * width + index % max(width, 1) }
        var back = [Int](repeating: 0, count: data.rank)
        for (position, original) in ([axis] + (0..<data.rank).filter { $0 != axis }).enumerated() { back[original] = position }
        return [try Layout.transpose(picked, back),
                Tensor(shape: [groups.count], scalars: firsts.map { Int64($0) }),
                Tensor(shape: [count], scalars: inverse),
                Tensor(shape: [groups.count], scalars: groups.map { Int64($0.count) })]
    }

    /// The determinant of each trailing square matrix (LU with partial pivoting, in double).
    static func det(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        guard input.dtype.isFloatingPoint, input.rank >= 2, input.shape[input.rank - 1] == input.shape[input.rank - 2] else {
            throw KernelError("expects floating-point square matrices [..., M, M], got \(input.dtype)\(input.shape)")
        }
        let n = input.shape[input.rank - 1]
        let values = try input.doubles()
        let batch = input.shape.dropLast(2).reduce(1, *)
        var results: [Double] = []
        for b in 0..<batch {
            var m = Array(values[b * n * n..<(b + 1) * n * n])
            var determinant = 1.0
            for column in 0..<n {
                var pivot = column
                for row in column + 1..<max(n, column + 1) where Swift.abs(m[row * n + column]) > Swift.abs(m[pivot * n + column]) {
                    pivot = row
                }
                if m[pivot * n + column] == 0 { determinant = 0; break }
                if pivot != column {
                    for k in 0..<n { m.swapAt(pivot * n + k, column * n + k) }
                    determinant = -determinant
                }
                let diagonal = m[column * n + column]
                determinant *= diagonal
                for row in column + 1..<max(n, column + 1) {
                    let factor = m[row * n + column] / diagonal
                    for k in column..<n { m[row * n + k] -= factor * m[column * n + k] }
                }
            }
            results.append(determinant)
        }
        return try Tensor(shape: Array(input.shape.dropLast(2)), scalars: results).converted(to: input.dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("EyeLike") { [try eyeLike($0)] }
        registry.register("Compress") { [try compress($0)] }
        registry.register("ReverseSequence") { [try reverseSequence($0)] }
        registry.register("CenterCropPad") { [try centerCropPad($0)] }
        registry.register("Unique") { try unique($0) }
        registry.register("Det") { [try det($0)] }
    }
}
