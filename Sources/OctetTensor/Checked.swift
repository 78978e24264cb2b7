/// Size, shape, offset and index arithmetic on values read from files and models. Each
/// operation returns `nil` on overflow instead of trapping; callers turn that into an error
/// naming the file, tensor or node (the one helper family used wherever such values meet).
public enum Checked {
    /// `a + b`, or `nil` when it overflows.
    @inlinable public static func add(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : result
    }

    /// `a - b`, or `nil` when it overflows.
    @inlinable public static func subtract(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? nil : result
    }

    /// `a * b`, or `nil` when it overflows.
    @inlinable public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : result
    }

    /// The sum of `values`, or `nil` when it overflows.
    public static func sum(_ values: some Sequence<Int>) -> Int? {
        var total = 0
        for value in values {
            guard let next = add(total, value) else { return nil }
            total = next
        }
        return total
    }

    /// The product of `values`, or `nil` when it overflows.
    public static func product(_ values: some Sequence<Int>) -> Int? {
        var total = 1
        for value in values {
            guard let next = multiply(total, value) else { return nil }
            total = next
        }
        return total
    }

    /// The number of elements of a tensor of `shape`, or `nil` when the shape is not one a
    /// tensor may have: a negative dimension, or non-zero dimensions whose product overflows
    /// (NumPy's rule: the strides of `[0, 2^40, 2^40]` overflow although it holds nothing).
    /// - Parameter shape: dimensions, outermost first.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var nonZero = 1
        var empty = false
        for dim in shape {
            guard dim >= 0 else { return nil }
            if dim == 0 { empty = true; continue }
            guard let next = multiply(nonZero, dim) else { return nil }
            nonZero = next
        }
        return empty ? 0 : nonZero
    }

    /// Bytes a tensor of `shape` with `bitWidth`-bit elements would occupy, or `nil` when
    /// ``elementCount(_:)`` is `nil` or the byte count of its non-zero dimensions overflows.
    /// - Parameters:
    ///   - shape: dimensions, outermost first.
    ///   - bitWidth: bits per element (sub-byte types round up to whole bytes).
    public static func byteCount(_ shape: [Int], bitWidth: Int) -> Int? {
        guard let count = elementCount(shape) else { return nil }
        let nonZero = shape.reduce(1) { $1 == 0 ? $0 : $0 &* $1 }
        let width = max(bitWidth, 1)
        // As DType.byteCount: whole bytes per element, or groups of 8 elements plus a rounded rest.
        let bytes = width % 8 == 0 ? multiply(nonZero, width / 8)
            : multiply(nonZero / 8, width).flatMap { add($0, (nonZero % 8 * width + 7) / 8) }
        guard let bytes else { return nil }
        return count == 0 ? 0 : bytes
    }
}
