import Foundation
import OctetGraph

/// Sequence and optional values: SequenceEmpty/Construct/At/Insert/Erase/Length/Map,
/// SplitToSequence, ConcatFromSequence, Optional, OptionalHasElement, OptionalGetElement.
///
/// A sequence is a ``Tensor`` whose ``Tensor/container`` holds the elements; an optional with a
/// value is that value itself, and one without is ``Tensor/noValue(_:)``.
enum SequenceKernels {
    /// The elements of input `index`, which must be a sequence.
    static func elements(_ context: KernelContext, _ index: Int) throws -> (elements: [Tensor], dtype: DType) {
        let value = try context.input(index)
        guard let elements = value.sequenceElements else { throw KernelError("input #\(index) must be a sequence, got a tensor \(value.shape)") }
        return (elements, value.dtype)
    }

    /// A position argument (negative counts from the back) checked against `0...limit`.
    static func position(_ tensor: Tensor?, count: Int, default fallback: Int, allowEnd: Bool) throws -> Int {
        guard let tensor else { return fallback }
        guard tensor.elementCount == 1, let raw = try tensor.integers().first else { throw KernelError("position must be a scalar") }
        let value = raw < 0 ? raw + count : raw
        guard value >= 0, value < count || (allowEnd && value == count) else {
            throw KernelError("position \(raw) is outside a sequence of \(count) element(s)")
        }
        return value
    }

    /// A sequence of `elements`, typed by the first one (or `fallback` when empty).
    static func sequence(_ elements: [Tensor], _ fallback: DType) throws -> Tensor {
        let dtype = elements.first?.dtype ?? fallback
        guard elements.allSatisfy({ $0.dtype == dtype && $0.container == nil }) else {
            throw KernelError("sequence elements must be tensors of one type, got \(elements.map { "\($0.dtype)" })")
        }
        return Tensor(sequence: elements, elementType: dtype)
    }

    static func splitToSequence(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        guard input.rank >= 1 else { throw KernelError("cannot split a scalar") }
        let axis = try Layout.axis(context.int("axis", 0), rank: input.rank)
        let length = input.shape[axis]
        var sizes: [Int]
        let split = context.optionalInput(1)
        if let split {
            let values = try split.integers()
            if split.rank == 0 {
                guard let size = values.first, size > 0 else { throw KernelError("split must be positive") }
                sizes = Array(repeating: size, count: length / size) + (length % size > 0 ? [length % size] : [])
            } else {
                sizes = values
                guard sizes.allSatisfy({ $0 >= 0 }), Checked.sum(sizes) == length else {
                    throw KernelError("split sizes \(sizes) must be non-negative and add up to \(length)")
                }
            }
        } else {
            sizes = Array(repeating: 1, count: length)
        }
        let squeeze = split == nil && context.int("keepdims", 1) == 0
        var start = 0
        let parts = try sizes.map { size -> Tensor in
            defer { start += size }
            let part = try Layout.narrow(input, axis: axis, start: start, end: start + size)
            guard squeeze else { return part }
            var shape = part.shape
            shape.remove(at: axis)
            return part.unsafeReshaped(shape)
        }
        return try sequence(parts, input.dtype)
    }

    static func concatFromSequence(_ context: KernelContext) throws -> Tensor {
        let (parts, _) = try elements(context, 0)
        guard let first = parts.first else { throw KernelError("cannot concatenate an empty sequence") }
        let newAxis = context.int("new_axis", 0) != 0
        let axis = try Layout.axis(context.int("axis", 0), rank: first.rank + (newAxis ? 1 : 0))
        let pieces = newAxis ? parts.map { part -> Tensor in
            var shape = part.shape
            shape.insert(1, at: axis)
            return part.unsafeReshaped(shape)
        } : parts
        return try Layout.concat(pieces, axis: axis)
    }

    /// SequenceMap: runs `body` once per position of the first (sequence) input; sequence inputs
    /// give their element at that position, tensor inputs are passed whole; each body output is
    /// collected into a sequence.
    static func sequenceMap(_ context: KernelContext) throws -> [Tensor] {
        let (first, dtype) = try elements(context, 0)
        let others = try (1..<context.inputs.count).map { try context.input($0) }
        for (index, other) in others.enumerated() {
            if let items = other.sequenceElements, items.count != first.count {
                throw KernelError("input #\(index + 1) is a sequence of \(items.count), expected \(first.count) like input #0")
            }
        }
        var collected = [[Tensor]](repeating: [], count: context.node.outputs.count)
        for position in 0..<first.count {
            let inputs = [first[position]] + others.map { $0.sequenceElements?[position] ?? $0 }
            let outputs = try context.runSubgraph(attribute: "body", inputs: inputs)
            guard outputs.count == collected.count else {
                throw KernelError("the body returns \(outputs.count) values, expected \(collected.count)")
            }
            for (index, value) in outputs.enumerated() { collected[index].append(value) }
        }
        return try collected.map { try sequence($0, dtype) }
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("SequenceEmpty") { context in
            guard let code = Int32(exactly: context.int("dtype", 1)), let dtype = DType(rawValue: code) else {
                throw KernelError("attribute 'dtype' = \(context.int("dtype", 1)) is not a tensor type")
            }
            return [Tensor(sequence: [], elementType: dtype)]
        }
        registry.register("SequenceConstruct") { context in
            let parts = try (0..<context.inputs.count).map { try context.input($0) }
            return [try sequence(parts, .float32)]
        }
        registry.register("SequenceAt") { context in
            let (items, _) = try elements(context, 0)
            return [items[try position(context.input(1), count: items.count, default: 0, allowEnd: false)]]
        }
        registry.register("SequenceInsert") { context in
            var (items, dtype) = try elements(context, 0)
            let value = try context.input(1)
            guard items.isEmpty || value.dtype == dtype else { throw KernelError("cannot insert a \(value.dtype) tensor into a sequence of \(dtype)") }
            items.insert(value, at: try position(context.optionalInput(2), count: items.count, default: items.count, allowEnd: true))
            return [try sequence(items, value.dtype)]
        }
        registry.register("SequenceErase") { context in
            var (items, dtype) = try elements(context, 0)
            guard !items.isEmpty else { throw KernelError("cannot erase from an empty sequence") }
            items.remove(at: try position(context.optionalInput(1), count: items.count, default: items.count - 1, allowEnd: false))
            return [try sequence(items, dtype)]
        }
        registry.register("SequenceLength") { context in
            [Tensor(shape: [], scalars: [Int64(try elements(context, 0).elements.count)])]
        }
        registry.register("SplitToSequence") { [try splitToSequence($0)] }
        registry.register("ConcatFromSequence") { [try concatFromSequence($0)] }
        registry.register("SequenceMap") { try sequenceMap($0) }
        registry.register("Optional") { context in
            [context.optionalInput(0) ?? Tensor.noValue(.float32)]
        }
        registry.register("OptionalHasElement") { context in
            let present = context.optionalInput(0).map { !$0.isNoValue } ?? false
            return [Tensor(shape: [], scalars: [present])]
        }
        registry.register("OptionalGetElement") { context in
            let value = try context.input(0)
            guard !value.isNoValue else { throw KernelError("the optional input holds no value") }
            return [value]
        }
    }
}
