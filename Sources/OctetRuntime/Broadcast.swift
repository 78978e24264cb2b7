import COctetKernels
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
        let count = shape.reduce(1, *)
        let (left, right) = (Access(a.shape, in: shape), Access(b.shape, in: shape))
        return a.withElements(as: A.self) { x in
            b.withElements(as: B.self) { y in
                Tensor.build(R.self, shape: shape) { out in
                    // Rows of `width` outputs: input i advances by 1 or 0 per element and by
                    // `rowStep` per row, which covers every pattern but the general one.
                    func rows(width: Int, leftStep: (element: Int, row: Int), rightStep: (element: Int, row: Int)) {
                        let rowCount = width == 0 ? 0 : count / width
                        let (source, other, target) = (UncheckedSendable(x), UncheckedSendable(y), UncheckedSendable(out))
                        ThreadPool.parallelFor(rowCount, minimumChunk: max(1, 32_768 / max(width, 1))) { range in
                            for row in range {
                                var ia = row * leftStep.row
                                var ib = row * rightStep.row
                                let start = row * width
                                for i in start..<start + width {
                                    target.value[i] = f(source.value[ia], other.value[ib])
                                    ia += leftStep.element
                                    ib += rightStep.element
                                }
                            }
                        }
                    }
                    if let layout = RowLayout(left, right, last: Swift.max(shape.last ?? 1, 1)) {
                        rows(width: layout.width, leftStep: layout.left, rightStep: layout.right)
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

    /// The float32 operators with a vectorized C kernel.
    enum FloatOperator: Int32 {
        /// `addRelu` is max(0, a + b) (NaN stays NaN): a residual Add fused with its Relu.
        case add, sub, mul, div, addRelu

        init?(_ kind: ArithmeticKernels.Binary.Kind) {
            switch kind {
            case .add: self = .add
            case .sub: self = .sub
            case .mul: self = .mul
            case .div: self = .div
            default: return nil
            }
        }

        var code: Int32 {
            switch self {
            case .add: Int32(OCTET_BINARY_ADD)
            case .sub: Int32(OCTET_BINARY_SUB)
            case .mul: Int32(OCTET_BINARY_MUL)
            case .div: Int32(OCTET_BINARY_DIV)
            case .addRelu: Int32(OCTET_BINARY_ADD_RELU)
            }
        }
    }

    /// `a op b` on float32 with broadcasting, row by row through the C kernel (rows in
    /// parallel); the general pattern falls back to ``binary(_:_:as:_:into:_:)``.
    static func floatBinary(_ a: Tensor, _ b: Tensor, _ op: FloatOperator) throws -> Tensor {
        let shape = try Self.shape([a.shape, b.shape])
        let count = shape.reduce(1, *)
        guard var layout = RowLayout(Access(a.shape, in: shape), Access(b.shape, in: shape), last: Swift.max(shape.last ?? 1, 1)) else {
            return generalRows(a, b, shape: shape, op)
        }
        // Rows that continue one another (each input a tensor or a scalar) form one long row,
        // split into chunks below.
        if layout.left.row == layout.left.element * layout.width && layout.right.row == layout.right.element * layout.width {
            layout = RowLayout(width: count, left: (layout.left.element, 0), right: (layout.right.element, 0))
        }
        let (width, left, right) = (layout.width, (layout.left.element, layout.left.row), (layout.right.element, layout.right.row))
        return a.withElements(as: Float.self) { x in
            b.withElements(as: Float.self) { y in
                Tensor.buildOverwriting(Float.self, shape: shape) { out in
                    guard width > 0, let xBase = x.baseAddress, let yBase = y.baseAddress, let outBase = out.baseAddress else { return }
                    let (source, other, target) = (UnsafeSendablePointer(pointer: xBase), UnsafeSendablePointer(pointer: yBase),
                                                   UnsafeSendableMutablePointer(pointer: outBase))
                    let rows = count / width
                    if rows == 1 {
                        // One long row: split it into chunks instead.
                        ThreadPool.parallelFor(count, minimumChunk: 16_384) { range in
                            octet_binary_f32(op.code, source.pointer + range.lowerBound * left.0, Int32(left.0),
                                             other.pointer + range.lowerBound * right.0, Int32(right.0),
                                             target.pointer + range.lowerBound, range.count)
                        }
                        return
                    }
                    ThreadPool.parallelFor(rows, minimumChunk: Swift.max(1, 16_384 / width)) { range in
                        let first = range.lowerBound
                        octet_binary_rows_f32(op.code, source.pointer + first * left.1, left.1, Int32(left.0),
                                              other.pointer + first * right.1, right.1, Int32(right.0),
                                              target.pointer + first * width, range.count, width)
                    }
                }
            }
        }
    }

    /// `floatBinary` for the general broadcast pattern (an attention mask [b, 1, 1, s] against
    /// scores [b, h, s, s]): the C kernel over each innermost output row, rows split over threads,
    /// each row's input offsets computed from its index.
    private static func generalRows(_ a: Tensor, _ b: Tensor, shape: [Int], _ op: FloatOperator) -> Tensor {
        let count = shape.reduce(1, *)
        let inner = Swift.max(shape.last ?? 1, 1)
        let outer = Array(shape.dropLast())
        let outerStrides = Layout.strides(outer)
        let (aStrides, bStrides) = (strides(of: a.shape, in: shape), strides(of: b.shape, in: shape))
        let (aStep, bStep) = (Int32(aStrides.last ?? 0), Int32(bStrides.last ?? 0))
        return a.withElements(as: Float.self) { x in
            b.withElements(as: Float.self) { y in
                Tensor.buildOverwriting(Float.self, shape: shape) { out in
                    guard count > 0, let xBase = x.baseAddress, let yBase = y.baseAddress, let outBase = out.baseAddress else { return }
                    let (source, other, target) = (UnsafeSendablePointer(pointer: xBase), UnsafeSendablePointer(pointer: yBase),
                                                   UnsafeSendableMutablePointer(pointer: outBase))
                    ThreadPool.parallelFor(count / inner, minimumChunk: Swift.max(1, 32_768 / inner)) { range in
                        for row in range {
                            var (remainder, left, right) = (row, 0, 0)
                            for axis in 0..<outer.count {
                                let coordinate = remainder / outerStrides[axis]
                                remainder -= coordinate * outerStrides[axis]
                                left += coordinate * aStrides[axis]
                                right += coordinate * bStrides[axis]
                            }
                            octet_binary_f32(op.code, source.pointer + left, aStep, other.pointer + right, bStep, target.pointer + row * inner, inner)
                        }
                    }
                }
            }
        }
    }

    /// Rows of `width` outputs over which each input advances by `element` per output (1 or 0)
    /// and by `row` per row: every broadcast pattern but the general one.
    struct RowLayout {
        var width: Int
        var left: (element: Int, row: Int)
        var right: (element: Int, row: Int)

        init(width: Int, left: (element: Int, row: Int), right: (element: Int, row: Int)) {
            (self.width, self.left, self.right) = (width, left, right)
        }

        /// The layout of two inputs indexed as `left` and `right`; `nil` for the general pattern.
        /// - Parameter last: the output's last dimension (the row width of same-shape inputs).
        init?(_ left: Access, _ right: Access, last: Int) {
            switch (left, right) {
            case (.direct, .direct): self.init(width: last, left: (1, last), right: (1, last))
            case (.direct, .tiled(1)): self.init(width: last, left: (1, last), right: (0, 0))
            case (.tiled(1), .direct): self.init(width: last, left: (0, 0), right: (1, last))
            case (.direct, .tiled(let n)): self.init(width: n, left: (1, n), right: (1, 0))
            case (.tiled(let n), .direct): self.init(width: n, left: (1, 0), right: (1, n))
            case (.direct, .repeated(let m)): self.init(width: m, left: (1, m), right: (0, 1))
            case (.repeated(let m), .direct): self.init(width: m, left: (0, 1), right: (1, m))
            default: return nil
            }
        }
    }

    /// How an input of a broadcast operation is indexed by the flat output index i.
    enum Access {
        /// Same shape as the output: index i.
        case direct
        /// The output's trailing dimensions (e.g. a bias [h] against [b, s, h]): index i % n.
        case tiled(Int)
        /// The output's leading dimensions followed by ones (e.g. a row mean [b, s, 1]): i / m.
        case repeated(Int)
        /// Anything else (walked row by row).
        case general

        init(_ shape: [Int], in output: [Int]) {
            let count = shape.reduce(1, *)
            let padded = [Int](repeating: 1, count: output.count - shape.count) + shape
            if padded == output {
                self = .direct
            } else if count == 1 {
                self = .tiled(1)
            } else if let first = padded.firstIndex(where: { $0 != 1 }), Array(padded[first...]) == Array(output[first...]) {
                self = .tiled(count)
            } else if let last = padded.lastIndex(where: { $0 != 1 }), Array(padded[...last]) == Array(output[...last]) {
                self = .repeated(output[(last + 1)...].reduce(1, *))
            } else {
                self = .general
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
