import Foundation
import OctetGraph

/// MatMul and Gemm (float32 through the blocked GEMM; other types through float64).
enum LinearKernels {
    /// Row-major float32 copy of a 2-D tensor, transposed when asked.
    static func matrix(_ tensor: Tensor, transposed: Bool) throws -> Tensor {
        let value = try tensor.converted(to: .float32)
        return transposed ? try Layout.transpose(value, [1, 0]) : value
    }

    /// `a · b` for float32 matrices; `packed` is b already packed (a constant weight).
    static func multiply(_ a: Tensor, _ b: Tensor, m: Int, n: Int, k: Int, packed: GEMM.PackedMatrix? = nil) -> Tensor {
        if let packed {
            return a.withElements(as: Float.self) { x in
                Tensor.buildOverwriting(Float.self, shape: [m, n]) { out in
                    guard let xa = x.baseAddress, let o = out.baseAddress else { return }
                    GEMM.multiply(m: m, n: n, k: k, a: xa, packedB: packed.panels, c: o)
                }
            }
        }
        return a.withElements(as: Float.self) { x in
            b.withElements(as: Float.self) { y in
                Tensor.build(Float.self, shape: [m, n]) { out in
                    guard let xa = x.baseAddress, let yb = y.baseAddress, let o = out.baseAddress else { return }
                    GEMM.multiply(m: m, n: n, k: k, a: xa, b: yb, c: o)
                }
            }
        }
    }

    /// The constant weight of a node packed once, when it is a float32 matrix. The packed copy
    /// stands in for the weight from then on (the session may release the original), so a
    /// caller given one must not read the weight's elements.
    /// - Parameters:
    ///   - index: the weight's input position (it must be a graph constant).
    ///   - transposed: pack Bᵀ (Gemm's `transB`).
    static func packedWeight(_ context: KernelContext, input index: Int, transposed: Bool) throws -> GEMM.PackedMatrix? {
        guard context.isConstant(index), let weight = context.optionalInput(index), weight.rank == 2, weight.dtype == .float32,
              weight.elementCount > 0
        else { return nil }
        return try context.prepared("packed \(index) \(transposed)", replacing: index) {
            let b = try matrix(weight, transposed: transposed)
            return try b.withElements(as: Float.self) { values in
                guard let base = values.baseAddress else { throw KernelError("weight \(weight.shape) has no elements") }
                return GEMM.PackedMatrix(k: b.shape[0], n: b.shape[1], b: base)
            }
        }
    }

    /// MatMul, with B from the plan's packed copy when it is a constant matrix.
    static func matmul(_ context: KernelContext) throws -> Tensor {
        let first = try context.input(0)
        let second = try context.input(1)
        guard let packed = try packedWeight(context, input: 1, transposed: false) else { return try matmul(first, second) }
        // B's elements may be released: every case is answered from the packed copy.
        guard first.dtype == .float32 else { throw KernelError("input types differ: \(first.dtype) and \(second.dtype)") }
        guard first.rank >= 1, first.shape[first.rank - 1] == packed.k else {
            throw KernelError("inner dimensions differ: \(first.shape) × \(second.shape)")
        }
        // [..., m, k] · [k, n]: the leading dimensions fold into m (a vector is one row).
        let k = packed.k
        let m = first.elementCount / max(k, 1)
        let product = multiply(first.unsafeReshaped([m, k]), second, m: m, n: packed.n, k: k, packed: packed)
        return product.unsafeReshaped(Array(first.shape.dropLast()) + [packed.n])
    }

    static func matmul(_ first: Tensor, _ second: Tensor) throws -> Tensor {
        guard first.dtype == second.dtype else { throw KernelError("input types differ: \(first.dtype) and \(second.dtype)") }
        let outputType = first.dtype
        var a = try first.converted(to: .float32)
        var b = try second.converted(to: .float32)
        let promoteA = a.rank == 1
        let promoteB = b.rank == 1
        if promoteA { a = a.unsafeReshaped([1, a.shape[0]]) }
        if promoteB { b = b.unsafeReshaped([b.shape[0], 1]) }
        guard a.rank >= 2, b.rank >= 2 else { throw KernelError("MatMul needs tensors of rank ≥ 1") }
        let (m, k) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (k2, n) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        guard k == k2 else { throw KernelError("inner dimensions differ: \(first.shape) × \(second.shape)") }
        let batch = try Broadcast.shape([Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))])
        let count = batch.reduce(1, *)
        let aStrides = Broadcast.strides(of: Array(a.shape.dropLast(2)), in: batch)
        let bStrides = Broadcast.strides(of: Array(b.shape.dropLast(2)), in: batch)
        let batchStrides = Layout.strides(batch)
        var shape = batch + [m, n]
        let result: Tensor = a.withElements(as: Float.self) { x in
            b.withElements(as: Float.self) { y in
                Tensor.build(Float.self, shape: shape) { out in
                    guard let xa = x.baseAddress, let yb = y.baseAddress, let o = out.baseAddress else { return }
                    let (left, right, target) = (UnsafeSendablePointer(pointer: xa), UnsafeSendablePointer(pointer: yb),
                                                 UnsafeSendableMutablePointer(pointer: o))
                    // Batched products (attention heads) split over threads by product; a single
                    // product splits its own tiles instead (a nested split runs on its caller).
                    ThreadPool.parallelFor(count, minimumChunk: max(1, 262_144 / max(m * n * k, 1))) { range in
                        for index in range {
                            var ia = 0, ib = 0, remainder = index
                            for axis in 0..<batch.count {
                                let coordinate = remainder / batchStrides[axis]
                                remainder %= batchStrides[axis]
                                ia += coordinate * aStrides[axis]
                                ib += coordinate * bStrides[axis]
                            }
                            GEMM.multiply(m: m, n: n, k: k, a: left.pointer + ia * m * k, b: right.pointer + ib * k * n,
                                          c: target.pointer + index * m * n)
                        }
                    }
                }
            }
        }
        if promoteA { shape.remove(at: shape.count - 2) }
        if promoteB { shape.removeLast() }
        return try result.unsafeReshaped(shape).converted(to: outputType)
    }

    static func gemm(_ context: KernelContext) throws -> Tensor {
        let first = try context.input(0)
        let a = try matrix(first, transposed: context.int("transA", 0) != 0)
        let transB = context.int("transB", 0) != 0
        let packed = try packedWeight(context, input: 1, transposed: transB)
        let b = packed == nil ? try matrix(try context.input(1), transposed: transB) : try context.input(1)
        let (bk, bn) = packed.map { ($0.k, $0.n) } ?? (b.rank == 2 ? (b.shape[0], b.shape[1]) : (-1, -1))
        guard a.rank == 2, b.rank == 2, a.shape[1] == bk else {
            throw KernelError("A and B do not multiply: \(a.shape) × \(b.shape) after transposition")
        }
        let (m, k, n) = (a.shape[0], a.shape[1], bn)
        let alpha = context.float("alpha", 1)
        let beta = context.float("beta", 1)
        var product = multiply(a, b, m: m, n: n, k: k, packed: packed)
        if alpha != 1 { product.withMutableElements(as: Float.self) { for i in 0..<$0.count { $0[i] *= alpha } } }
        if let bias = context.optionalInput(2), beta != 0 {
            let scaled = try bias.converted(to: .float32)
            _ = try Broadcast.shape([scaled.shape, [m, n]])
            product = try Broadcast.binary(product, scaled, as: Float.self, Float.self, into: Float.self) { $0 + beta * $1 }
        }
        return try product.converted(to: first.dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("MatMul") { context in [try matmul(context)] }
        registry.register("Gemm") { [try gemm($0)] }
    }
}
