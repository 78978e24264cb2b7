import Foundation

/// Contiguous, 16-byte aligned bytes owned by one or more tensors (copy-on-write through
/// ``Tensor``). The alignment is malloc's own: larger alignments go through `memalign`, whose
/// leftover fragments made the heap of a long calibration grow to several times its working
/// set; the kernels use unaligned vector loads.
public final class TensorStorage: @unchecked Sendable {
    /// Number of bytes in the buffer.
    public let byteCount: Int
    /// Start of the buffer; valid for `byteCount` bytes while the storage lives.
    public let baseAddress: UnsafeMutableRawPointer
    /// Whether the bytes were given up (``init(releasedByteCount:)``): the address range is
    /// reserved but inaccessible, so any read faults instead of returning stale values.
    public let isReleased: Bool

    /// Allocates `byteCount` zeroed bytes.
    /// - Parameter byteCount: size of the buffer in bytes (0 allowed).
    public init(byteCount: Int) {
        self.byteCount = byteCount
        baseAddress = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 16)
        baseAddress.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
        isReleased = false
    }

    /// Allocates a buffer without clearing it, for callers that write every byte before any
    /// is read (a kernel's output, a copy).
    public init(uninitializedByteCount byteCount: Int) {
        self.byteCount = byteCount
        baseAddress = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 16)
        isReleased = false
    }

    /// Address space for `byteCount` bytes that holds no memory and cannot be read: the storage
    /// of a weight whose values a kernel keeps in another form (see ``Tensor/releasingElements()``).
    /// `nil` when the range cannot be reserved.
    /// - Parameter byteCount: the size of the storage it stands for (> 0).
    public init?(releasedByteCount byteCount: Int) {
        guard byteCount > 0,
              let mapped = mmap(nil, byteCount, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              mapped != MAP_FAILED
        else { return nil }
        self.byteCount = byteCount
        baseAddress = mapped
        isReleased = true
    }

    /// Allocates a buffer holding a copy of `bytes`.
    /// - Parameter bytes: the contents.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(uninitializedByteCount: bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 {
            baseAddress.copyMemory(from: source, byteCount: bytes.count)
        }
    }

    deinit {
        if isReleased { munmap(baseAddress, byteCount) } else { baseAddress.deallocate() }
    }

    /// A read-only view of the bytes.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: baseAddress, count: byteCount) }
    /// A writable view of the bytes.
    public var mutableBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: baseAddress, count: byteCount)
    }
}
