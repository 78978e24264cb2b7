import OctetGraph

/// NumPy-style broadcasting of element-wise operations.
enum Broadcast {
    /// The broadcast shape of `shapes`.
    /// - Throws: ``KernelError`` when two dimensions differ and neither is 1.
    static func shape(_ shapes: [[Int]]) throws -> [Int] {
        let rank = shapes.map(\.count).max() ?? 0
        var result = [Int](repeating: 1, count: rank)
        for shape in shapes {
            let offset = rank - shape.count
            for (axis, dim) in shape.enumerated() {
                let current = result[offset + axis]
                if current == dim || dim == 1 { continue }
                guard current == 1 else {
                    throw KernelError("shapes \(shapes.map { "\($0)" }.joined(separator: " and ")) cannot be broadcast together")
                }
                result[offset + axis] = dim
            }
        }
        return result
    }

    /// Element strides of `shape` inside a broadcast `output` shape (0 along broadcast axes).
    static func strides(of shape: [Int], in output: [Int]) -> [Int] {
        var result = [Int](repeating: 0, count: output.count)
        var running = 1
        for axis in (0..<shape.count).reversed() {
            let outAxis = output.count - shape.count + axis
            result[outAxis] = shape[axis] == 1 ? 0 : running
            running *= shape[axis]
        }
        return result
    }

    /// For every output element, the flat indices into each input, visited row by row.
    /// `body(outputStart, inputStarts, inputInnerStrides, count)` handles one innermost row.
    static func forEachRow(output: [Int], inputs: [[Int]], _ body: (Int, [Int], [Int], Int) -> Void) {
        let count = output.reduce(1, *)
        guard count > 0 else { return }
        guard let inner = output.last else {
            body(0, inputs.map { _ in 0 }, inputs.map { _ in 0 }, 1)
            return
        }
        let inputStrides = inputs.map { strides(of: $0, in: output) }
        let innerStrides = inputStrides.map { $0.last ?? 0 }
        let rows = count / max(inner, 1)
        let outer = Array(output.dropLast())
        var index = [Int](repeating: 0, count: outer.count)
        var starts = [Int](repeating: 0, count: inputs.count)
        for row in 0..<rows {
            body(row * inner, starts, innerStrides, inner)
            var axis = outer.count - 1
            while axis >= 0 {
                index[axis] += 1
                for input in 0..<inputs.count { starts[input] += inputStrides[input][axis] }
                if index[axis] < outer[axis] { break }
                for input in 0..<inputs.count { starts[input] -= inputStrides[input][axis] * outer[axis] }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Applies `f` element-wise over broadcast `a` and `b`.
    static func binary<A, B, R: TensorElement>(_ a: Tensor, _ b: Tensor, as _: A.Type, _: B.Type, into _: R.Type,
                                               _ f: (A, B) -> R) throws -> Tensor {
        let shape = try Self.shape([a.shape, b.shape])
        return a.withElements(as: A.self) { x in
            b.withElements(as: B.self) { y in
                Tensor.build(R.self, shape: shape) { out in
                    if a.shape == b.shape {
                        for i in 0..<out.count { out[i] = f(x[i], y[i]) }
                    } else if b.elementCount == 1 {
                        let scalar = y[0]
                        for i in 0..<out.count { out[i] = f(x[i % x.count], scalar) }
                    } else {
                        forEachRow(output: shape, inputs: [a.shape, b.shape]) { start, starts, steps, count in
                            var ia = starts[0]
                            var ib = starts[1]
                            for i in start..<start + count {
                                out[i] = f(x[ia], y[ib])
                                ia += steps[0]
                                ib += steps[1]
                            }
                        }
                    }
                }
            }
        }
    }

    /// Copies elements of `source` (of any fixed element size) broadcast to `shape`.
    static func expand(_ source: Tensor, to shape: [Int]) -> Tensor {
        let size = source.elementSize
        return source.withUnsafeBytes { input in
            Tensor.build(dtype: source.dtype, shape: shape) { out in
                guard let base = out.baseAddress, let from = input.baseAddress else { return }
                forEachRow(output: shape, inputs: [source.shape]) { start, starts, steps, count in
                    if steps[0] == 1 {
                        (base + start * size).copyMemory(from: from + starts[0] * size, byteCount: count * size)
                    } else {
                        for i in 0..<count {
                            (base + (start + i) * size).copyMemory(from: from + starts[0] * size, byteCount: size)
                        }
                    }
                }
            }
        }
    }
}
