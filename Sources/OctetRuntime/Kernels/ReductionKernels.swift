import COctetKernels
import Foundation
import OctetGraph

/// ReduceMean/Sum/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp, ArgMax, ArgMin, CumSum, CumProd,
/// Softmax, LogSoftmax, TopK.
enum ReductionKernels {
    enum Reduction { case mean, sum, max, min, prod, l1, l2, sumSquare, logSum, logSumExp }

    /// The tensor with `axes` moved last, as rows of `inner` elements, plus the kept shape.
    static func rows(_ data: Tensor, axes: [Int]) throws -> (values: [Double], outer: Int, inner: Int) {
        let rest = (0..<data.rank).filter { !axes.contains($0) }
        let moved = try Layout.transpose(data, rest + axes)
        let inner = axes.map { data.shape[$0] }.reduce(1, *)
        return (try moved.doubles(), rest.map { data.shape[$0] }.reduce(1, *), inner)
    }

    static func reduce(_ context: KernelContext, _ kind: Reduction) throws -> Tensor {
        let data = try context.input(0)
        let axesFromInput = context.opset >= 18 || (kind == .sum && context.opset >= 13)
        var axes = try (axesFromInput ? context.optionalInput(1)?.integers() : context.ints("axes")) ?? []
        let keep = context.int("keepdims", 1) != 0
        if axes.isEmpty {
            if context.int("noop_with_empty_axes", 0) != 0 { return data }
            axes = Array(0..<data.rank)
        }
        axes = Array(Set(try axes.map { try Layout.axis($0, rank: data.rank) })).sorted()
        let shape = keep ? data.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
            : data.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        let trailing = axes == Array((data.rank - axes.count)..<data.rank)
        if data.dtype == .float32, trailing, [.mean, .sum, .sumSquare, .l2].contains(kind) {
            let rows = data.shape[..<(data.rank - axes.count)].reduce(1, *)
            return sumRows(data, rows: rows, rowSize: axes.map { data.shape[$0] }.reduce(1, *), kind: kind).unsafeReshaped(shape)
        }
        let (values, outer, inner) = try rows(data, axes: axes)
        var result = [Double](repeating: 0, count: outer)
        for row in 0..<outer {
            let slice = values[row * inner..<(row + 1) * inner]
            switch kind {
            case .sum: result[row] = slice.reduce(0, +)
            case .mean: result[row] = inner == 0 ? 0 : slice.reduce(0, +) / Double(inner)  // 0 over nothing, as ONNX Runtime
            case .max: result[row] = slice.reduce(-.infinity) { $1.isNaN || $0.isNaN ? .nan : Swift.max($0, $1) }
            case .min: result[row] = slice.reduce(.infinity) { $1.isNaN || $0.isNaN ? .nan : Swift.min($0, $1) }
            case .prod: result[row] = slice.reduce(1, *)
            case .l1: result[row] = slice.reduce(0) { $0 + abs($1) }
            case .l2: result[row] = slice.reduce(0) { $0 + $1 * $1 }.squareRoot()
            case .sumSquare: result[row] = slice.reduce(0) { $0 + $1 * $1 }
            case .logSum: result[row] = Foundation.log(slice.reduce(0, +))
            case .logSumExp:
                let peak = slice.max() ?? -.infinity
                result[row] = peak.isFinite ? peak + Foundation.log(slice.reduce(0) { $0 + Foundation.exp($1 - peak) }) : peak
            }
        }
        if data.dtype == .bool, kind == .max || kind == .min, inner == 0 {
            return Tensor(shape: shape, scalars: result.map { _ in kind == .min })
        }
        if data.dtype.isInteger, kind == .max || kind == .min, inner == 0 {
            let extreme = kind == .max ? Double(Int64.min) : Double(Int64.max)
            return try Tensor(shape: shape, scalars: result.map { _ in extreme }).converted(to: data.dtype)
        }
        return try Tensor(shape: shape, scalars: result).converted(to: data.dtype)
    }

    /// Sum-like reductions over contiguous float32 rows (double accumulators), rows in parallel.
    static func sumRows(_ x: Tensor, rows: Int, rowSize: Int, kind: Reduction) -> Tensor {
        x.withElements(as: Float.self) { input in
            Tensor.build(Float.self, shape: [rows]) { out in
                let (source, target) = (UncheckedSendable(input), UncheckedSendable(out))
                ThreadPool.parallelFor(rows, minimumChunk: max(1, 16_384 / max(rowSize, 1))) { range in
                    for row in range {
                        var total = 0.0
                        for i in row * rowSize..<(row + 1) * rowSize {
                            let value = Double(source.value[i])
                            total += kind == .sumSquare || kind == .l2 ? value * value : value
                        }
                        switch kind {
                        case .mean: target.value[row] = Float(rowSize == 0 ? 0 : total / Double(rowSize))
                        case .l2: target.value[row] = Float(total.squareRoot())
                        default: target.value[row] = Float(total)
                        }
                    }
                }
            }
        }
    }

    static func argExtreme(_ context: KernelContext, largest: Bool) throws -> Tensor {
        let data = try context.input(0)
        let axis = try Layout.axis(context.int("axis", 0), rank: data.rank)
        let last = context.int("select_last_index", 0) != 0
        let (values, outer, inner) = try rows(data, axes: [axis])
        var result = [Int64](repeating: 0, count: outer)
        for row in 0..<outer {
            var best = 0
            for index in 0..<inner {
                let value = values[row * inner + index]
                let current = values[row * inner + best]
                let better = largest ? value > current : value < current
                if better || (last && value == current) { best = index }
            }
            result[row] = Int64(best)
        }
        var shape = data.shape
        if context.int("keepdims", 1) != 0 { shape[axis] = 1 } else { shape.remove(at: axis) }
        return Tensor(shape: shape, scalars: result)
    }

    /// Softmax or LogSoftmax along one axis (opset ≥ 13) or over the flattened trailing axes.
    static func softmax(_ context: KernelContext, log: Bool) throws -> Tensor {
        let data = try context.input(0)
        let (wide, original) = try Dispatch.widened(data)
        guard wide.dtype == .float32 || wide.dtype == .float64 else { throw KernelError("expects a floating-point tensor") }
        let axis = try Layout.axis(context.int("axis", context.opset >= 13 ? -1 : 1), rank: data.rank)
        let lastAxes = context.opset >= 13 ? [axis] : Array(axis..<data.rank)
        let inner = lastAxes.map { data.shape[$0] }.reduce(1, *)
        let moved = context.opset >= 13 && axis != data.rank - 1
        if !moved && wide.dtype == .float32 {
            return try Dispatch.narrowed(softmaxRows(wide, rowSize: inner, log: log), to: original)
        }
        let permutation = (0..<data.rank).filter { $0 != axis } + [axis]
        let source = moved ? try Layout.transpose(wide, permutation) : wide
        var values = try source.doubles()
        let rowCount = inner == 0 ? 0 : values.count / inner
        for row in 0..<rowCount {
            let range = row * inner..<(row + 1) * inner
            let peak = values[range].max() ?? 0
            var total = 0.0
            for i in range { total += Foundation.exp(values[i] - peak) }
            for i in range { values[i] = log ? values[i] - peak - Foundation.log(total) : Foundation.exp(values[i] - peak) / total }
        }
        var result = try Tensor(shape: source.shape, scalars: values).converted(to: wide.dtype)
        if moved {
            var inverse = [Int](repeating: 0, count: data.rank)
            for (position, axis) in permutation.enumerated() { inverse[axis] = position }
            result = try Layout.transpose(result, inverse)
        }
        return try Dispatch.narrowed(result, to: original)
    }

    /// Softmax or LogSoftmax over contiguous float32 rows of `rowSize` (sums in double).
    static func softmaxRows(_ x: Tensor, rowSize: Int, log: Bool) -> Tensor {
        let rows = rowSize == 0 ? 0 : x.elementCount / rowSize
        if !log {
            // The vectorized kernel (sum in float lanes, added in double).
            return x.withElements(as: Float.self) { input in
                Tensor.buildOverwriting(Float.self, shape: x.shape) { out in
                    guard let from = input.baseAddress, let to = out.baseAddress else { return }
                    let (source, target) = (UnsafeSendablePointer(pointer: from), UnsafeSendableMutablePointer(pointer: to))
                    ThreadPool.parallelFor(rows, minimumChunk: max(1, 16_384 / max(rowSize, 1))) { range in
                        octet_softmax_rows_f32(source.pointer + range.lowerBound * rowSize, target.pointer + range.lowerBound * rowSize,
                                               range.count, rowSize)
                    }
                }
            }
        }
        return x.withElements(as: Float.self) { input in
            Tensor.build(Float.self, shape: x.shape) { out in
                let (source, target) = (UncheckedSendable(input), UncheckedSendable(out))
                ThreadPool.parallelFor(rows, minimumChunk: max(1, 16_384 / max(rowSize, 1))) { range in
                    for row in range {
                        let start = row * rowSize
                        var peak = -Float.infinity
                        for i in start..<start + rowSize { peak = max(peak, source.value[i]) }
                        var total = 0.0
                        for i in start..<start + rowSize {
                            let e = Foundation.exp(source.value[i] - peak)
                            target.value[i] = e
                            total += Double(e)
                        }
                        if log {
                            let shift = peak + Float(Foundation.log(total))
                            for i in start..<start + rowSize { target.value[i] = source.value[i] - shift }
                        } else {
                            let scale = Float(1 / total)
                            for i in start..<start + rowSize { target.value[i] *= scale }
                        }
                    }
                }
            }
        }
    }

    /// CumSum or CumProd along the axis given as input 1 (`exclusive`, `reverse` attributes).
    static func cumulative(_ context: KernelContext, product: Bool) throws -> Tensor {
        let data = try context.input(0)
        let axis = try Layout.axis(context.input(1).integers().first ?? 0, rank: data.rank)
        let exclusive = context.int("exclusive", 0) != 0
        let reverse = context.int("reverse", 0) != 0
        var values = try data.doubles()
        let dim = data.shape[axis]
        let inner = data.shape[(axis + 1)...].reduce(1, *)
        let outer = data.shape[..<axis].reduce(1, *)
        for block in 0..<outer {
            for column in 0..<inner {
                var running = product ? 1.0 : 0.0
                for step in 0..<dim {
                    let position = reverse ? dim - 1 - step : step
                    let index = (block * dim + position) * inner + column
                    let value = values[index]
                    if exclusive { values[index] = running }
                    running = product ? running * value : running + value
                    if !exclusive { values[index] = running }
                }
            }
        }
        return try Tensor(shape: data.shape, scalars: values).converted(to: data.dtype)
    }

    static func topK(_ context: KernelContext) throws -> [Tensor] {
        let data = try context.input(0)
        let k = context.opset >= 10 ? try context.input(1).integers().first ?? 0 : context.int("k", 0)
        let axis = try Layout.axis(context.int("axis", -1), rank: data.rank)
        let largest = context.int("largest", 1) != 0
        guard k >= 0, k <= data.shape[axis] else { throw KernelError("k = \(k) is out of range for axis size \(data.shape[axis])") }
        let permutation = (0..<data.rank).filter { $0 != axis } + [axis]
        let (values, outer, inner) = try rows(data, axes: [axis])
        var topValues: [Double] = []
        var topIndices: [Int64] = []
        for row in 0..<outer {
            let base = row * inner
            let order = (0..<inner).sorted { a, b in
                let (x, y) = (values[base + a], values[base + b])
                if x == y { return a < b }
                return largest ? x > y : x < y
            }
            for index in order.prefix(k) {
                topValues.append(values[base + index])
                topIndices.append(Int64(index))
            }
        }
        var shape = permutation.map { data.shape[$0] }
        shape[shape.count - 1] = k
        var inverse = [Int](repeating: 0, count: data.rank)
        for (position, axis) in permutation.enumerated() { inverse[axis] = position }
        let valueTensor = try Layout.transpose(try Tensor(shape: shape, scalars: topValues).converted(to: data.dtype), inverse)
        let indexTensor = try Layout.transpose(Tensor(shape: shape, scalars: topIndices), inverse)
        return [valueTensor, indexTensor]
    }

    static func register(in registry: inout OpRegistry) {
        let kinds: [(String, Reduction)] = [
            ("ReduceMean", .mean), ("ReduceSum", .sum), ("ReduceMax", .max), ("ReduceMin", .min), ("ReduceProd", .prod),
            ("ReduceL1", .l1), ("ReduceL2", .l2), ("ReduceSumSquare", .sumSquare), ("ReduceLogSum", .logSum),
            ("ReduceLogSumExp", .logSumExp),
        ]
        for (name, kind) in kinds { registry.register(name) { [try reduce($0, kind)] } }
        registry.register("ArgMax") { [try argExtreme($0, largest: true)] }
        registry.register("ArgMin") { [try argExtreme($0, largest: false)] }
        registry.register("Softmax") { [try softmax($0, log: false)] }
        registry.register("LogSoftmax") { [try softmax($0, log: true)] }
        registry.register("CumSum") { [try cumulative($0, product: false)] }
        registry.register("CumProd") { [try cumulative($0, product: true)] }
        registry.register("TopK") { try topK($0) }
    }
}
