import Foundation

/// An array whose axis 0 stacks samples, read one row range at a time. Arrays in `.npy` files
/// and in stored (uncompressed) `.npz` members are read from the file row by row (positioned
/// reads, no mapping), so memory does not grow with the number of rows; big-endian,
/// Fortran-order and deflated arrays are decoded once.
public struct StackedArray: Sendable {
    /// Where the array comes from (a path, or `archive.npz:key.npy`), for messages.
    public let source: String
    /// Element type.
    public let dtype: DType
    /// Full shape, rows first.
    public let shape: [Int]
    private let storage: Storage

    private enum Storage: @unchecked Sendable {
        /// A file and the offset of the first element (C order, little-endian).
        case file(URL, Int)
        /// A decoded tensor (big-endian, Fortran-order or deflated sources).
        case decoded(Tensor)
    }

    /// Number of rows (samples) along axis 0; 1 for a 0-d array.
    public var rowCount: Int { shape.first ?? 1 }
    /// Shape of one row.
    public var rowShape: [Int] { Array(shape.dropFirst()) }

    /// Opens a `.npy` file.
    /// - Parameter url: the file.
    /// - Throws: ``NumpyError`` naming the file.
    public init(npy url: URL) throws {
        try InputFileError.requireRegular(url)
        try self.init(file: url, offset: 0, length: nil, source: url.path)
    }

    /// Opens the `.npy` image that starts at `offset` of `file` and is `length` bytes long (to
    /// the end of the file when `nil`).
    init(file url: URL, offset: Int, length: Int?, source: String) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw NumpyError.io(file: url.path, reason: "cannot open for reading")
        }
        defer { try? handle.close() }
        let end = (try? handle.seekToEnd()).map { Int($0) } ?? 0
        let size = length ?? (end - offset)
        try handle.seek(toOffset: UInt64(offset))
        let head = try handle.read(upToCount: min(size, 1 << 16)) ?? Data()
        let header = try NPYHeader.parse(head, file: source)
        let available = size - header.dataOffset
        guard available >= header.dataByteCount else {
            throw NumpyError.dataLength(file: source, expected: header.dataByteCount, actual: available)
        }
        guard header.dtype.bitWidth % 8 == 0, header.dtype != .string else {
            throw NumpyError.unrepresentable(file: source, dtype: header.dtype)
        }
        self.source = source
        dtype = header.dtype
        shape = header.shape
        if header.bigEndian || (header.fortranOrder && header.shape.count > 1) {
            try handle.seek(toOffset: UInt64(offset + header.dataOffset))
            let payload = try handle.read(upToCount: header.dataByteCount) ?? Data()
            storage = .decoded(try NPYFile.tensor(header: header, payload: payload, file: source))
        } else {
            storage = .file(url, offset + header.dataOffset)
        }
    }

    init(decoded tensor: Tensor, source: String) {
        self.source = source
        dtype = tensor.dtype
        shape = tensor.shape
        storage = .decoded(tensor)
    }

    /// Rows `range` as one tensor of shape `[range.count] + rowShape` (the whole array for 0-d).
    public func rows(_ range: Range<Int>) throws -> Tensor {
        let rowElements = rowShape.reduce(1, *)
        let rowBytes = dtype.byteCount(forElements: rowElements)
        let outShape = shape.isEmpty ? [] : [range.count] + rowShape
        switch storage {
        case let .file(url, offset):
            let start = offset + (shape.isEmpty ? 0 : range.lowerBound * rowBytes)
            let count = shape.isEmpty ? dtype.byteCount(forElements: 1) : range.count * rowBytes
            guard let handle = FileHandle(forReadingAtPath: url.path) else {
                throw NumpyError.io(file: source, reason: "cannot open for reading")
            }
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(start))
            let bytes = try handle.read(upToCount: count) ?? Data()
            guard bytes.count == count else { throw NumpyError.dataLength(file: source, expected: count, actual: bytes.count) }
            return try Tensor(dtype: dtype, shape: outShape, bytes: bytes)
        case .decoded(let tensor):
            if shape.isEmpty { return tensor }
            return tensor.withUnsafeBytes { raw in
                // The slice is contiguous, so this copies exactly the rows asked for.
                let slice = UnsafeRawBufferPointer(rebasing: raw[range.lowerBound * rowBytes..<range.upperBound * rowBytes])
                return (try? Tensor(dtype: dtype, shape: outShape, bytes: slice)) ?? tensor
            }
        }
    }
}

extension NPZArchive {
    /// The array `key` for row-wise reading: stored members are sliced in place from the mapped
    /// archive, deflated ones decoded once.
    /// - Parameter key: an entry of ``keys``.
    public func stackedArray(_ key: String) throws -> StackedArray {
        let member = "\(url.path):\(key).npy"
        if let stored = try storedData(of: key) {
            return try StackedArray(file: url, offset: stored.lowerBound, length: stored.count, source: member)
        }
        return StackedArray(decoded: try tensor(key), source: member)
    }
}
