import Foundation

/// Reads and writes NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
public enum NPYFile {
    /// Decodes a whole `.npy` file held in memory.
    /// - Parameters:
    ///   - bytes: the file's bytes.
    ///   - file: name used in errors (a path, or `archive.npz:member`).
    /// - Returns: the array as a C-order tensor in native byte order.
    /// - Throws: ``NumpyError`` naming `file`.
    public static func decode(_ bytes: Data, file: String) throws -> Tensor {
        let header = try NPYHeader.parse(bytes, file: file)
        let available = bytes.count - header.dataOffset
        guard available == header.dataByteCount else {
            throw NumpyError.dataLength(file: file, expected: header.dataByteCount, actual: available)
        }
        return try tensor(header: header, payload: bytes.dropFirst(header.dataOffset), file: file)
    }

    /// Reads a `.npy` file from disk.
    /// - Parameter url: the file.
    /// - Throws: ``NumpyError`` naming the file.
    public static func read(_ url: URL) throws -> Tensor {
        try InputFileError.requireRegular(url)
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw NumpyError.io(file: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, file: url.path)
    }

    /// Reads only the header of a `.npy` file (type and shape), without its data.
    /// - Parameter url: the file.
    /// - Throws: ``NumpyError`` naming the file.
    public static func readHeader(_ url: URL) throws -> NPYHeader {
        try InputFileError.requireRegular(url)
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw NumpyError.io(file: url.path, reason: "cannot open for reading")
        }
        defer { try? handle.close() }
        let preamble = handle.readData(ofLength: 12)
        var length = preamble.count >= 10 ? Int(preamble[preamble.startIndex + 8]) | Int(preamble[preamble.startIndex + 9]) << 8 : 0
        if preamble.count >= 12, preamble[preamble.startIndex + 6] >= 2 {
            length = (0..<4).reduce(0) { $0 | Int(preamble[preamble.startIndex + 8 + $1]) << (8 * $1) }
        }
        try handle.seek(toOffset: 0)
        let head = handle.readData(ofLength: min(12 + length, 12 + NPYHeader.maximumHeaderLength))
        return try NPYHeader.parse(head, file: url.path)
    }

    /// Builds a tensor from a header and its data bytes, fixing byte order and memory order.
    static func tensor(header: NPYHeader, payload: Data, file: String) throws -> Tensor {
        let size = header.dtype.bitWidth / 8
        let swapUnit = header.dtype.isComplex ? size / 2 : size
        var bytes = [UInt8](payload)
        if header.bigEndian && swapUnit > 1 {
            for start in stride(from: 0, to: bytes.count, by: swapUnit) { bytes[start..<start + swapUnit].reverse() }
        }
        if header.dtype == .bool, let bad = bytes.firstIndex(where: { $0 > 1 }) {
            throw NumpyError.corruptHeader(file: file, reason: "bool element \(bad) holds \(bytes[bad]), expected 0 or 1")
        }
        if header.fortranOrder && header.shape.count > 1 {
            bytes = columnMajorToRowMajor(bytes, shape: header.shape, elementSize: size)
        }
        return try Tensor(dtype: header.dtype, shape: header.shape, bytes: bytes)
    }

    /// Reorders column-major elements into row-major order.
    static func columnMajorToRowMajor(_ bytes: [UInt8], shape: [Int], elementSize: Int) -> [UInt8] {
        let count = shape.reduce(1, *)
        guard count > 0 else { return bytes }
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in 1..<shape.count { strides[axis] = strides[axis - 1] * shape[axis - 1] }
        var result = [UInt8](repeating: 0, count: bytes.count)
        var index = [Int](repeating: 0, count: shape.count)
        var source = 0
        for destination in 0..<count {
            let from = source * elementSize
            let to = destination * elementSize
            for byte in 0..<elementSize { result[to + byte] = bytes[from + byte] }
            // Advance the row-major index (last axis fastest) and its column-major offset.
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                source += strides[axis]
                if index[axis] < shape[axis] { break }
                source -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }

    /// Encodes a tensor as a little-endian, C-order `.npy` file. String tensors become NumPy
    /// unicode arrays (`<U` n, UTF-32 padded to the longest string; no pickled objects).
    /// - Parameters:
    ///   - tensor: a tensor of a type NumPy has (not bfloat16, float8 or int4).
    ///   - file: name used in errors.
    /// - Throws: ``NumpyError/unrepresentable`` for types NumPy lacks.
    public static func encode(_ tensor: Tensor, file: String) throws -> Data {
        if tensor.dtype == .string {
            let scalars = tensor.strings.map { Array(String(decoding: $0, as: UTF8.self).unicodeScalars.map(\.value)) }
            let width = max(1, scalars.map(\.count).max() ?? 1)
            var data = Data(NPYHeader.encode(descr: "<U\(width)", shape: tensor.shape))
            for value in scalars {
                for scalar in value + Array(repeating: 0, count: width - value.count) {
                    withUnsafeBytes(of: scalar.littleEndian) { data.append(contentsOf: $0) }
                }
            }
            return data
        }
        guard let descr = NPYHeader.descr(for: tensor.dtype) else {
            throw NumpyError.unrepresentable(file: file, dtype: tensor.dtype)
        }
        var data = Data(NPYHeader.encode(descr: descr, shape: tensor.shape))
        tensor.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// Writes a tensor to a `.npy` file (atomically: a temporary file, then a rename).
    /// - Parameters:
    ///   - tensor: a tensor of a type NumPy has.
    ///   - url: destination.
    /// - Throws: ``NumpyError`` naming the file.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        let data = try encode(tensor, file: url.path)
        do { try AtomicFile.write(data, to: url) } catch {
            throw NumpyError.io(file: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
