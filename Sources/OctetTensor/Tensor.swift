import Foundation

/// An n-dimensional array: element type, shape and contiguous row-major storage.
///
/// Numeric tensors keep their elements as little-endian bytes in a ``TensorStorage`` shared
/// copy-on-write between copies; string tensors keep one `Data` per element.
public struct Tensor: Sendable {
    /// The element type.
    public let dtype: DType
    /// The dimensions, outermost first; `[]` is a scalar.
    public private(set) var shape: [Int]
    private var storage: TensorStorage
    /// The elements of a `.string` tensor (empty for other types).
    public private(set) var strings: [Data]
    /// For ONNX sequence and optional values: what the value holds (see ``Container``); `nil`
    /// for a plain tensor. A container is an empty tensor of shape `[0]` to every kernel that
    /// does not look here.
    public private(set) var container: Container?

    /// A value that is not a plain tensor.
    public enum Container: Sendable, Equatable {
        /// An ONNX sequence of tensors (all of the value's ``dtype``).
        case sequence([Tensor])
        /// An ONNX optional without a value.
        case none
    }

    /// An ONNX sequence value.
    /// - Parameters:
    ///   - elements: the tensors, each of type `elementType`.
    ///   - elementType: the sequence's element type (kept for an empty sequence).
    public init(sequence elements: [Tensor], elementType: DType) {
        self.init(zeros: elementType, shape: [0])
        container = .sequence(elements)
    }

    /// An ONNX optional value that holds nothing.
    /// - Parameter elementType: the element type of the tensor (or sequence) it could hold.
    public static func noValue(_ elementType: DType) -> Tensor {
        var value = Tensor(sequence: [], elementType: elementType)
        value.container = Container.none
        return value
    }

    /// The tensors of a sequence value, or `nil` when this is not a sequence.
    public var sequenceElements: [Tensor]? {
        if case .sequence(let elements)? = container { return elements }
        return nil
    }

    /// Whether this is an optional value holding nothing.
    public var isNoValue: Bool { container == Container.none }

    /// Creates a zero-filled numeric tensor.
    /// - Parameters:
    ///   - dtype: element type (not `.string`).
    ///   - shape: dimensions, each ≥ 0.
    public init(zeros dtype: DType, shape: [Int]) {
        self.init(dtype, shape, cleared: true)
    }

    private init(_ dtype: DType, _ shape: [Int], cleared: Bool) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.dtype = dtype
        self.shape = shape
        let count = shape.reduce(1, *)
        let bytes = dtype.byteCount(forElements: count)
        storage = cleared ? TensorStorage(byteCount: bytes) : TensorStorage(uninitializedByteCount: bytes)
        strings = dtype == .string ? Array(repeating: Data(), count: count) : []
    }

    /// A numeric tensor whose buffer is not cleared (see ``buildOverwriting(_:shape:_:)``);
    /// sub-byte types are cleared, since a partly used last byte would not be written.
    init(uninitialized dtype: DType, shape: [Int]) {
        self.init(dtype, shape, cleared: dtype.bitWidth < 8)
    }

    /// Creates a numeric tensor from its raw little-endian bytes.
    /// - Parameters:
    ///   - dtype: element type (not `.string`).
    ///   - shape: dimensions; `bytes.count` must equal `dtype.byteCount(forElements:)` of their product.
    ///   - bytes: the elements, row-major.
    /// - Throws: ``TensorError/byteCountMismatch`` when the length disagrees with the shape.
    public init<Bytes: Collection<UInt8>>(dtype: DType, shape: [Int], bytes: Bytes) throws {
        let expected = dtype.byteCount(forElements: shape.reduce(1, *))
        guard dtype != .string, shape.allSatisfy({ $0 >= 0 }), bytes.count == expected else {
            throw TensorError.byteCountMismatch(dtype: dtype, shape: shape, expected: expected, actual: bytes.count)
        }
        self.init(zeros: dtype, shape: shape)
        storage.mutableBytes.copyBytes(from: bytes)
    }

    /// Creates a tensor from Swift scalars.
    /// - Parameters:
    ///   - shape: dimensions whose product equals `scalars.count`.
    ///   - scalars: the elements, row-major.
    public init<T: TensorElement>(shape: [Int], scalars: [T]) {
        precondition(shape.reduce(1, *) == scalars.count, "\(scalars.count) scalars for shape \(shape)")
        self.init(uninitialized: T.dtype, shape: shape)
        scalars.withUnsafeBytes { source in
            if let base = source.baseAddress, source.count > 0 {
                storage.baseAddress.copyMemory(from: base, byteCount: source.count)
            }
        }
    }

    /// Creates a string tensor.
    /// - Parameters:
    ///   - shape: dimensions whose product equals `strings.count`.
    ///   - strings: UTF-8 (or arbitrary) bytes of each element, row-major.
    public init(shape: [Int], strings: [Data]) {
        precondition(shape.reduce(1, *) == strings.count, "\(strings.count) strings for shape \(shape)")
        self.dtype = .string
        self.shape = shape
        storage = TensorStorage(byteCount: 0)
        self.strings = strings
    }

    /// Number of elements (product of the shape; 1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Bytes of numeric storage (0 for strings).
    public var byteCount: Int { storage.byteCount }

    /// Whether the elements were released (``releasingElements()``); only the type and shape remain.
    public var elementsReleased: Bool { storage.isReleased }

    /// This tensor's type and shape without its elements, for a weight whose only readers keep
    /// it in another form (packed panels): the copy holds no memory, and reading its elements
    /// faults. `nil` for strings, containers and tensors under 64 KiB (not worth a mapping).
    public func releasingElements() -> Tensor? {
        guard dtype != .string, container == nil, byteCount >= 65_536, !storage.isReleased,
              let released = TensorStorage(releasedByteCount: byteCount)
        else { return nil }
        var copy = self
        copy.storage = released
        return copy
    }

    /// Calls `body` with the raw little-endian element bytes.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(storage.bytes)
    }

    /// Calls `body` with writable element bytes, copying the storage first if it is shared.
    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) {
            storage = TensorStorage(copying: storage.bytes)
        }
        return try body(storage.mutableBytes)
    }

    /// The elements as Swift scalars of the tensor's own type.
    /// - Parameter type: a Swift type whose ``TensorElement/dtype`` equals ``dtype``.
    public func scalars<T: TensorElement>(as type: T.Type) -> [T] {
        precondition(T.dtype == dtype, "tensor is \(dtype), asked for \(T.dtype)")
        return storage.bytes.withMemoryRebound(to: T.self) { Array($0.prefix(elementCount)) }
    }

    /// The raw element bytes as `Data`.
    public var data: Data { Data(storage.bytes) }

    /// The same tensor with `newShape`, without checks (the caller guarantees the element count).
    public func unsafeReshaped(_ newShape: [Int]) -> Tensor {
        var copy = self
        copy.shape = newShape
        return copy
    }

    /// The same elements under another shape with the same element count.
    /// - Parameter newShape: dimensions whose product equals ``elementCount``.
    /// - Throws: ``TensorError/reshapeMismatch`` when the counts differ.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        guard newShape.allSatisfy({ $0 >= 0 }), newShape.reduce(1, *) == elementCount else {
            throw TensorError.reshapeMismatch(from: shape, to: newShape)
        }
        var copy = self
        copy.shape = newShape
        return copy
    }
}

extension Tensor: Equatable {
    /// Tensors are equal when type, shape and stored bytes (or strings) are identical.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        guard lhs.dtype == rhs.dtype, lhs.shape == rhs.shape, lhs.strings == rhs.strings, lhs.container == rhs.container else {
            return false
        }
        return lhs.storage === rhs.storage || lhs.storage.bytes.elementsEqual(rhs.storage.bytes)
    }
}
