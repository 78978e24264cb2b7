import OctetTensor

/// Checked arithmetic for kernels' shape and index computations on attributes and inputs:
/// an overflow becomes a ``KernelError`` saying what was being computed.
enum Size {
    /// `a + b + …`.
    /// - Parameter what: what the sum is, for the error ("pads of axis 2").
    static func add(_ values: Int..., for what: @autoclosure () -> String) throws -> Int {
        guard let result = Checked.sum(values) else { throw overflow(what(), values) }
        return result
    }

    /// `a - b`.
    static func subtract(_ a: Int, _ b: Int, for what: @autoclosure () -> String) throws -> Int {
        guard let result = Checked.subtract(a, b) else { throw overflow(what(), [a, b]) }
        return result
    }

    /// `a * b * …`.
    static func multiply(_ values: Int..., for what: @autoclosure () -> String) throws -> Int {
        guard let result = Checked.product(values) else { throw overflow(what(), values) }
        return result
    }

    private static func overflow(_ what: String, _ values: [Int]) -> KernelError {
        KernelError("\(what) overflows 64-bit integers (from \(values.map(String.init).joined(separator: ", ")))")
    }
}
