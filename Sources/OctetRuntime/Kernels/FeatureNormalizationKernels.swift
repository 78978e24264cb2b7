import Foundation
import OctetGraph

/// RMSNormalization, LpNormalization, MeanVarianceNormalization, LRN and Hardmax: operators that
/// rescale each group of elements along some axes by statistics of that group.
enum FeatureNormalizationKernels {
    /// Applies `body` to every row of `x` taken along `axes` (in double precision), in `x`'s type.
    /// - Parameters:
    ///   - x: any numeric tensor.
    ///   - axes: normalized axes (0..<rank, sorted, distinct).
    ///   - body: rewrites one row (the elements along `axes` for one position of the other axes).
    static func mapRows(_ x: Tensor, axes: [Int], _ body: (inout ArraySlice<Double>) -> Void) throws -> Tensor {
        let rest = (0..<x.rank).filter { !axes.contains($0) }
        let permutation = rest + axes
        let moved = try Layout.transpose(x, permutation)
        var values = try moved.doubles()
        let inner = axes.map { x.shape[$0] }.reduce(1, *)
        if inner > 0 {
            for start in stride(from: 0, to: values.count, by: inner) { body(&values[start..<start + inner]) }
        }
        let result = try Tensor(shape: moved.shape, scalars: values).converted(to: x.dtype)
        var inverse = [Int](repeating: 0, count: x.rank)
        for (position, axis) in permutation.enumerated() { inverse[axis] = position }
        return try Layout.transpose(result, inverse)
    }

    /// Distinct sorted axes from an attribute or input (negative values count from the back).
    static func normalizedAxes(_ axes: [Int], rank: Int) throws -> [Int] {
        Array(Set(try axes.map { try Layout.axis($0, rank: rank) })).sorted()
    }

    static func rmsNormalization(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        guard x.dtype.isFloatingPoint else { throw KernelError("expects a floating-point X, got \(x.dtype)") }
        let axis = try Layout.axis(context.int("axis", -1), rank: x.rank)
        let epsilon = Double(context.float("epsilon", 1e-5))
        let normalized = try mapRows(x, axes: Array(axis..<x.rank)) { row in
            let meanSquare = row.reduce(0) { $0 + $1 * $1 } / Double(row.count)
            let scale = 1 / (meanSquare + epsilon).squareRoot()
            for i in row.indices { row[i] *= scale }
        }
        var scale = try context.input(1)
        if scale.dtype != x.dtype { scale = try scale.converted(to: x.dtype) }
        return try ArithmeticKernels.binary(normalized, scale, .mul)
    }

    static func lpNormalization(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let axis = try Layout.axis(context.int("axis", -1), rank: x.rank)
        let p = context.int("p", 2)
        guard p == 1 || p == 2 else { throw KernelError("attribute 'p' must be 1 or 2, got \(p)") }
        return try mapRows(x, axes: [axis]) { row in
            let norm = p == 1 ? row.reduce(0) { $0 + Swift.abs($1) } : row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for i in row.indices { row[i] = norm == 0 ? 0 : row[i] / norm }
        }
    }

    /// (X − E[X]) / (sqrt(E[X²] − E[X]²) + 1e-9) over `axes` (default [0, 2, 3]), as the
    /// operator's function body computes it.
    static func meanVarianceNormalization(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let axes = try normalizedAxes(context.ints("axes") ?? [0, 2, 3], rank: x.rank)
        return try mapRows(x, axes: axes) { row in
            let count = Double(row.count)
            let mean = row.reduce(0, +) / count
            let meanSquare = row.reduce(0) { $0 + $1 * $1 } / count
            let deviation = Swift.max(meanSquare - mean * mean, 0).squareRoot() + 1e-9
            for i in row.indices { row[i] = (row[i] - mean) / deviation }
        }
    }

    /// Local response normalization across channels (axis 1):
    /// y = x / (bias + alpha / size · Σ x²)^beta over channels c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉.
    static func lrn(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        guard x.rank >= 3 else { throw KernelError("expects X of rank ≥ 3 (N, C, …), got shape \(x.shape)") }
        let size = context.int("size", 0)
        guard size > 0 else { throw KernelError("attribute 'size' must be positive, got \(size)") }
        let alpha = Double(context.float("alpha", 0.0001))
        let beta = Double(context.float("beta", 0.75))
        let bias = Double(context.float("bias", 1))
        let (before, after) = ((size - 1) / 2, (size - 1 + 1) / 2)
        return try mapRows(x, axes: [1]) { row in
            let squares = row.map { $0 * $0 }
            let base = row.startIndex
            let channels = row.count
            for c in 0..<channels {
                var total = 0.0
                for k in Swift.max(0, c - before)...Swift.min(channels - 1, c + after) { total += squares[k] }
                row[base + c] /= Foundation.pow(bias + alpha / Double(size) * total, beta)
            }
        }
    }

    /// 1 at the first largest element along the axis (opset 13), or of each row of the input
    /// flattened to 2-D at `axis` (earlier opsets), 0 elsewhere.
    static func hardmax(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let axis = try Layout.axis(context.int("axis", context.opset >= 13 ? -1 : 1), rank: x.rank)
        return try mapRows(x, axes: context.opset >= 13 ? [axis] : Array(axis..<x.rank)) { row in
            var best = row.startIndex
            for i in row.indices where row[i] > row[best] { best = i }
            for i in row.indices { row[i] = i == best ? 1 : 0 }
        }
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("RMSNormalization") { [try rmsNormalization($0)] }
        registry.register("LpNormalization") { [try lpNormalization($0)] }
        registry.register("MeanVarianceNormalization") { [try meanVarianceNormalization($0)] }
        registry.register("LRN") { [try lrn($0)] }
        registry.register("Hardmax") { [try hardmax($0)] }
    }
}
