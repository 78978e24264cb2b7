extension Tensor {
    /// Bytes per element (0 for strings and sub-byte types).
    public var elementSize: Int { dtype.bitWidth % 8 == 0 ? dtype.bitWidth / 8 : 0 }

    /// Calls `body` with the elements viewed as `T`, which must have the tensor's element size.
    /// - Parameters:
    ///   - type: a Swift type of the same size as one element (`Float` for float32, `UInt16` for float16 bits).
    ///   - body: reads the elements.
    public func withElements<T, R>(as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(MemoryLayout<T>.stride == elementSize, "\(T.self) does not match \(dtype) elements")
        return try withUnsafeBytes { raw in
            try body(UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: T.self), count: elementCount))
        }
    }

    /// Calls `body` with writable elements viewed as `T` (copying shared storage first).
    public mutating func withMutableElements<T, R>(as type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(MemoryLayout<T>.stride == elementSize, "\(T.self) does not match \(dtype) elements")
        let count = elementCount
        return try withUnsafeMutableBytes { raw in
            try body(UnsafeMutableBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: T.self), count: count))
        }
    }

    /// A new tensor of `T.dtype` whose elements `fill` writes.
    /// - Parameters:
    ///   - shape: dimensions.
    ///   - fill: writes every element (the buffer starts zeroed).
    public static func build<T: TensorElement>(_ type: T.Type, shape: [Int], _ fill: (UnsafeMutableBufferPointer<T>) throws -> Void) rethrows -> Tensor {
        var result = Tensor(zeros: T.dtype, shape: shape)
        try result.withMutableElements(as: T.self, fill)
        return result
    }

    /// A new tensor whose elements `fill` writes, every one of them: the buffer is not cleared
    /// first (kernels whose output is all computed, such as element-wise maps and GEMM).
    public static func buildOverwriting<T: TensorElement>(_ type: T.Type, shape: [Int], _ fill: (UnsafeMutableBufferPointer<T>) throws -> Void) rethrows -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 } && T.dtype != .string, "negative dimension in \(shape)")
        var result = Tensor(uninitialized: T.dtype, shape: shape)
        try result.withMutableElements(as: T.self, fill)
        return result
    }

    /// A new tensor of any fixed-size `dtype` whose raw bytes `fill` writes.
    public static func build(dtype: DType, shape: [Int], _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows -> Tensor {
        var result = Tensor(zeros: dtype, shape: shape)
        try result.withUnsafeMutableBytes(fill)
        return result
    }

    /// A new tensor of any fixed-size `dtype` whose raw bytes `fill` writes, every one of them
    /// (the buffer is not cleared first; sub-byte types are).
    public static func buildOverwriting(dtype: DType, shape: [Int], _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 } && dtype != .string, "negative dimension in \(shape)")
        var result = Tensor(uninitialized: dtype, shape: shape)
        try result.withUnsafeMutableBytes(fill)
        return result
    }

    /// The elements as `Int`, for shape and index arguments; float elements must be finite and
    /// are truncated.
    /// - Throws: ``TensorError/unsupportedConversion`` for NaN, infinite or out-of-range values.
    public func integers() throws -> [Int] {
        switch dtype {
        case .int64: return withElements(as: Int64.self) { $0.map { Int($0) } }
        case .int32: return withElements(as: Int32.self) { $0.map { Int($0) } }
        default:
            let values = try doubles()
            guard values.allSatisfy({ $0.isFinite && abs($0) < 9e18 }) else {
                throw TensorError.unsupportedConversion(from: dtype, to: .int64)
            }
            return values.map { Int($0) }
        }
    }

    /// The first element as `Double` (for scalar arguments such as Clip bounds).
    public func scalarDouble() throws -> Double? { try doubles().first }
}
