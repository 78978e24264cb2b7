import Foundation
import OctetGraph

/// Shape arithmetic and raw element copies shared by the data-movement kernels.
enum Layout {
    /// Row-major strides (in elements) of `shape`.
    static func strides(_ shape: [Int]) -> [Int] {
        var result = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in (0..<shape.count).reversed() {
            result[axis] = running
            running *= shape[axis]
        }
        return result
    }

    /// Throws unless `shape` is a valid output shape: no negative dimension, strides that fit
    /// (``Checked/elementCount(_:)``), and a size the process may still allocate (a model
    /// asking for more fails with a message, not a crash).
    static func check(_ shape: [Int], _ dtype: DType) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw KernelError("output shape \(shape) has a negative dimension") }
        guard let bytes = Checked.byteCount(shape, bitWidth: dtype.bitWidth) else {
            throw KernelError("output shape \(shape) is too large")
        }
        if let refusal = MemoryBudget.refusal(bytes) { throw KernelError("output shape \(shape) \(refusal)") }
    }

    /// `axis` made non-negative for a tensor of rank `rank`.
    /// - Throws: ``KernelError`` when it is out of range.
    static func axis(_ axis: Int, rank: Int) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 0 && resolved < max(rank, 1) else { throw KernelError("axis \(axis) is out of range for rank \(rank)") }
        return resolved
    }

    /// Copies one element of `size` bytes.
    @inline(__always)
    static func copy(_ size: Int, from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer) {
        switch size {
        case 4: destination.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
        case 8: destination.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
        case 1: destination.storeBytes(of: source.load(as: UInt8.self), as: UInt8.self)
        case 2: destination.storeBytes(of: source.loadUnaligned(as: UInt16.self), as: UInt16.self)
        default: destination.copyMemory(from: source, byteCount: size)
        }
    }

    /// Elements of `tensor` gathered by `sourceIndex(outputIndex)` into a tensor of `shape`.
    static func gather(_ tensor: Tensor, shape: [Int], _ sourceIndex: (Int) -> Int) throws -> Tensor {
        if tensor.dtype == .string {
            let count = shape.reduce(1, *)
            return Tensor(shape: shape, strings: (0..<count).map { tensor.strings[sourceIndex($0)] })
        }
        let size = tensor.elementSize
        guard size > 0 else { throw KernelError("\(tensor.dtype) tensors cannot be rearranged") }
        return tensor.withUnsafeBytes { input in
            Tensor.build(dtype: tensor.dtype, shape: shape) { out in
                guard let from = input.baseAddress, let to = out.baseAddress else { return }
                for index in 0..<shape.reduce(1, *) {
                    copy(size, from: from + sourceIndex(index) * size, to: to + index * size)
                }
            }
        }
    }

    /// A tensor of `shape` whose element `i` is `tensor`'s element `sourceIndex(i)`, or zero
    /// (an empty string) where that is `nil`.
    static func gatherOrZero(_ tensor: Tensor, shape: [Int], _ sourceIndex: (Int) -> Int?) throws -> Tensor {
        try check(shape, tensor.dtype)
        let count = shape.reduce(1, *)
        if tensor.dtype == .string {
            let strings = tensor.strings
            return Tensor(shape: shape, strings: (0..<count).map { sourceIndex($0).map { strings[$0] } ?? Data() })
        }
        let size = tensor.elementSize
        guard size > 0 else { throw KernelError("\(tensor.dtype) tensors cannot be rearranged") }
        return tensor.withUnsafeBytes { input in
            Tensor.build(dtype: tensor.dtype, shape: shape) { out in
                guard let from = input.baseAddress, let to = out.baseAddress else { return }
                for index in 0..<count {
                    if let source = sourceIndex(index) { copy(size, from: from + source * size, to: to + index * size) }
                }
            }
        }
    }

    /// The coordinates of flat index `index` in a tensor of `strides`.
    static func coordinates(_ index: Int, strides: [Int]) -> [Int] {
        var remainder = index
        return strides.map { stride in
            defer { remainder %= stride }
            return remainder / stride
        }
    }

    /// Elements of `tensor` gathered into a tensor of `shape`, where the source offset of an
    /// output element is the sum over axes of `axisOffset(axis, coordinate)`.
    static func gather(_ tensor: Tensor, shape: [Int], axisOffset: (_ axis: Int, _ coordinate: Int) -> Int) throws -> Tensor {
        let outStrides = strides(shape)
        return try gather(tensor, shape: shape) { index in
            var remainder = index
            var offset = 0
            for axis in 0..<shape.count {
                offset += axisOffset(axis, remainder / outStrides[axis])
                remainder %= outStrides[axis]
            }
            return offset
        }
    }

    /// The tensor transposed by `permutation`: output elements are visited in order while the
    /// source offset advances by the permuted strides (no index tables).
    static func transpose(_ tensor: Tensor, _ permutation: [Int]) throws -> Tensor {
        let rank = tensor.rank
        guard permutation.sorted() == Array(0..<rank) else { throw KernelError("perm \(permutation) is not a permutation of 0..<\(rank)") }
        if permutation == Array(0..<rank) { return tensor }
        let shape = permutation.map { tensor.shape[$0] }
        let inputStrides = strides(tensor.shape)
        let permutedStrides = permutation.map { inputStrides[$0] }
        let count = shape.reduce(1, *)
        if tensor.dtype == .string {
            var index = [Int](repeating: 0, count: rank)
            var offset = 0
            var result: [Data] = []
            result.reserveCapacity(count)
            for _ in 0..<count {
                result.append(tensor.strings[offset])
                advance(&index, &offset, shape: shape, strides: permutedStrides)
            }
            return Tensor(shape: shape, strings: result)
        }
        let size = tensor.elementSize
        guard size > 0 else { throw KernelError("\(tensor.dtype) tensors cannot be rearranged") }
        // The innermost output axis runs with a fixed source step; the rest advance an odometer.
        let inner = shape.last ?? 1
        let innerStep = permutedStrides.last ?? 0
        let outer = Array(shape.dropLast())
        let outerStrides = Array(permutedStrides.dropLast())
        let outerCounts = strides(outer)
        return tensor.withUnsafeBytes { input in
            Tensor.buildOverwriting(dtype: tensor.dtype, shape: shape) { out in
                guard let fromBase = input.baseAddress, let toBase = out.baseAddress, count > 0, inner > 0 else { return }
                let from = UnsafeSendablePointer(pointer: fromBase.assumingMemoryBound(to: UInt8.self))
                let to = UnsafeSendableMutablePointer(pointer: toBase.assumingMemoryBound(to: UInt8.self))
                // Output rows split over threads; each chunk starts its odometer at its first row.
                ThreadPool.parallelFor(count / inner, minimumChunk: max(1, 16_384 / inner)) { rows in
                    var index = outer.indices.map { rows.lowerBound / outerCounts[$0] % outer[$0] }
                    var offset = zip(index, outerStrides).reduce(0) { $0 + $1.0 * $1.1 }
                    var position = rows.lowerBound * inner
                    for _ in rows {
                        switch size {
                        case 4:
                            let source = UnsafeRawPointer(from.pointer).assumingMemoryBound(to: UInt32.self) + offset
                            let target = UnsafeMutableRawPointer(to.pointer).assumingMemoryBound(to: UInt32.self) + position
                            for i in 0..<inner { target[i] = source[i * innerStep] }
                        case 8:
                            let source = UnsafeRawPointer(from.pointer).assumingMemoryBound(to: UInt64.self) + offset
                            let target = UnsafeMutableRawPointer(to.pointer).assumingMemoryBound(to: UInt64.self) + position
                            for i in 0..<inner { target[i] = source[i * innerStep] }
                        default:
                            for i in 0..<inner {
                                copy(size, from: UnsafeRawPointer(from.pointer) + (offset + i * innerStep) * size,
                                     to: UnsafeMutableRawPointer(to.pointer) + (position + i) * size)
                            }
                        }
                        position += inner
                        advance(&index, &offset, shape: outer, strides: outerStrides)
                    }
                }
            }
        }
    }

    /// Steps a row-major index over `shape` by one, keeping `offset` = Σ index·strides.
    @inline(__always)
    static func advance(_ index: inout [Int], _ offset: inout Int, shape: [Int], strides: [Int]) {
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            offset += strides[axis]
            if index[axis] < shape[axis] { return }
            offset -= strides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }

    /// Joins tensors along `axis`.
    static func concat(_ tensors: [Tensor], axis: Int) throws -> Tensor {
        guard let first = tensors.first else { throw KernelError("needs at least one input") }
        let rank = first.rank
        for tensor in tensors {
            guard tensor.rank == rank, tensor.dtype == first.dtype else {
                throw KernelError("inputs must share rank and type; got \(tensors.map { "\($0.dtype)\($0.shape)" })")
            }
            for dim in 0..<rank where dim != axis && tensor.shape[dim] != first.shape[dim] {
                throw KernelError("input shapes \(tensors.map(\.shape)) differ outside axis \(axis)")
            }
        }
        var shape = first.shape
        guard let total = Checked.sum(tensors.map { $0.shape[axis] }) else {
            throw KernelError("the concatenated size along axis \(axis) overflows 64-bit integers (from \(tensors.map { $0.shape[axis] }))")
        }
        shape[axis] = total
        try check(shape, first.dtype)
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        if first.dtype == .string {
            var strings: [Data] = []
            for block in 0..<outer {
                for tensor in tensors {
                    let run = tensor.shape[axis] * inner
                    strings += tensor.strings[block * run..<(block + 1) * run]
                }
            }
            return Tensor(shape: shape, strings: strings)
        }
        let size = first.elementSize
        // Per block of the axes before `axis`, each input's run of bytes, one after the other.
        let runs = tensors.map { $0.shape[axis] * inner * size }
        let starts = runs.reduce(into: [0]) { $0.append($0[$0.count - 1] + $1) }
        let blockBytes = starts[runs.count]
        // Every byte is copied; sub-byte types start cleared (a partly used last byte).
        let build = { (fill: (UnsafeMutableRawBufferPointer) -> Void) -> Tensor in
            first.dtype.bitWidth < 8 ? Tensor.build(dtype: first.dtype, shape: shape, fill) : Tensor.buildOverwriting(dtype: first.dtype, shape: shape, fill)
        }
        return withBaseAddresses(of: tensors) { sources in
            build { out in
                guard let toBase = out.baseAddress, blockBytes > 0 else { return }
                let to = UnsafeSendableMutablePointer(pointer: toBase.assumingMemoryBound(to: UInt8.self))
                let from = UncheckedSendable(sources)
                // Output bytes split over threads (a serial copy at two threads waits on the other
                // core's cache for every line); each range copies the parts of the runs it covers.
                ThreadPool.parallelFor(outer * blockBytes, minimumChunk: 65_536) { range in
                    var offset = range.lowerBound
                    while offset < range.upperBound {
                        let (block, within) = (offset / blockBytes, offset % blockBytes)
                        var input = 0
                        while starts[input + 1] <= within { input += 1 }
                        let skip = within - starts[input]
                        let length = min(runs[input] - skip, range.upperBound - offset)
                        if let source = from.value[input] {
                            UnsafeMutableRawPointer(to.pointer + offset).copyMemory(from: source + block * runs[input] + skip, byteCount: length)
                        }
                        offset += length
                    }
                }
            }
        }
    }

    /// Calls `body` with the base address of every tensor's bytes (`nil` for an empty one), all
    /// valid for the call.
    private static func withBaseAddresses<R>(of tensors: [Tensor], _ body: ([UnsafeRawPointer?]) throws -> R) rethrows -> R {
        func nest(_ index: Int, _ gathered: [UnsafeRawPointer?]) throws -> R {
            guard index < tensors.count else { return try body(gathered) }
            return try tensors[index].withUnsafeBytes { try nest(index + 1, gathered + [$0.baseAddress]) }
        }
        return try nest(0, [])
    }

    /// The part of `tensor` from `start` to `end` (exclusive) along `axis`, step 1.
    static func narrow(_ tensor: Tensor, axis: Int, start: Int, end: Int) throws -> Tensor {
        var shape = tensor.shape
        shape[axis] = end - start
        let inner = tensor.shape[(axis + 1)...].reduce(1, *)
        let span = tensor.shape[axis] * inner
        let length = (end - start) * inner
        return try gather(tensor, shape: shape) { index in
            (index / length) * span + start * inner + index % length
        }
    }
}

