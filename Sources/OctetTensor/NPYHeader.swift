import Foundation

/// The header of a NumPy `.npy` file: element type, byte order, memory order and shape.
public struct NPYHeader: Equatable, Sendable {
    /// Element type of the array.
    public var dtype: DType
    /// True when the data is big-endian (`>` in the descr).
    public var bigEndian: Bool
    /// True when the data is column-major.
    public var fortranOrder: Bool
    /// Dimensions; `[]` is a 0-d array.
    public var shape: [Int]
    /// Offset of the first data byte from the start of the file.
    public var dataOffset: Int

    /// Bytes of array data that follow the header.
    public var dataByteCount: Int { dtype.byteCount(forElements: shape.reduce(1, *)) }

    /// Longest header accepted (NumPy's own reader refuses more than 10,000 bytes by default).
    public static let maximumHeaderLength = 1 << 20

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Parses the header at the start of `bytes`.
    /// - Parameters:
    ///   - bytes: at least the first bytes of a `.npy` file (the header is read, not the data).
    ///   - file: name used in errors.
    /// - Throws: ``NumpyError`` naming `file` for a bad magic, version, dictionary or type.
    public static func parse(_ bytes: some RandomAccessCollection<UInt8>, file: String) throws -> NPYHeader {
        let data = Array(bytes.prefix(12))
        guard data.count >= 10, Array(data[0..<6]) == magic else { throw NumpyError.notNumpy(file: file) }
        let major = data[6]
        let minor = data[7]
        let headerLength: Int
        let start: Int
        switch major {
        case 1:
            headerLength = Int(data[8]) | Int(data[9]) << 8
            start = 10
        case 2, 3:
            guard data.count >= 12 else { throw NumpyError.corruptHeader(file: file, reason: "file ends inside the header length") }
            headerLength = (0..<4).reduce(0) { $0 | Int(data[8 + $1]) << (8 * $1) }
            start = 12
        default: throw NumpyError.unsupportedVersion(file: file, major: major, minor: minor)
        }
        guard headerLength <= maximumHeaderLength else {
            throw NumpyError.corruptHeader(file: file, reason: "header declares \(headerLength) bytes; Octet reads headers of at most \(maximumHeaderLength) bytes")
        }
        guard bytes.count >= start + headerLength else {
            throw NumpyError.corruptHeader(
                file: file, reason: "header needs \(headerLength) bytes but the file has \(bytes.count - start) after the preamble")
        }
        let headerBytes = bytes.dropFirst(start).prefix(headerLength)
        let encoding: String.Encoding = major == 3 ? .utf8 : .isoLatin1
        guard let text = String(bytes: Array(headerBytes), encoding: encoding) else {
            throw NumpyError.corruptHeader(file: file, reason: "header is not \(major == 3 ? "UTF-8" : "Latin-1") text")
        }
        var parser = PythonLiteralParser(text: text)
        let dictionary: [String: PythonLiteral]
        do { dictionary = try parser.parseDictionary() } catch let error as PythonLiteralParser.Failure {
            throw NumpyError.corruptHeader(file: file, reason: error.reason)
        }
        return try header(from: dictionary, dataOffset: start + headerLength, file: file)
    }

    private static func header(from dictionary: [String: PythonLiteral], dataOffset: Int, file: String) throws -> NPYHeader {
        guard let descrValue = dictionary["descr"] else { throw NumpyError.corruptHeader(file: file, reason: "no 'descr' key") }
        guard case .string(let descr) = descrValue else {
            throw NumpyError.unsupportedDescr(
                file: file, descr: "\(descrValue)", reason: "structured (record) arrays are not supported; save one array per input")
        }
        guard case .bool(let fortran) = dictionary["fortran_order"] else {
            throw NumpyError.corruptHeader(file: file, reason: "'fortran_order' must be True or False")
        }
        guard case .tuple(let dims) = dictionary["shape"] else {
            throw NumpyError.corruptHeader(file: file, reason: "'shape' must be a tuple of integers")
        }
        var shape: [Int] = []
        for dim in dims {
            guard case .integer(let value) = dim, value >= 0 else {
                throw NumpyError.corruptHeader(file: file, reason: "'shape' must hold non-negative integers")
            }
            shape.append(value)
        }
        let (dtype, bigEndian) = try parseDescr(descr, file: file)
        // NumPy's rule: the non-zero dimensions' byte size must fit, even when a zero makes the array empty.
        guard Checked.byteCount(shape, bitWidth: dtype.bitWidth) != nil else {
            throw NumpyError.corruptHeader(file: file, reason: "shape \(shape) is too large for any array")
        }
        return NPYHeader(dtype: dtype, bigEndian: bigEndian, fortranOrder: fortran, shape: shape, dataOffset: dataOffset)
    }

    /// Maps a NumPy type string such as `<f4` or `|b1` to a tensor type and byte order.
    static func parseDescr(_ descr: String, file: String) throws -> (DType, Bool) {
        guard let order = descr.first, descr.count >= 2 else {
            throw NumpyError.unsupportedDescr(file: file, descr: descr, reason: "not a NumPy type string")
        }
        let code = String(descr.dropFirst())
        let table: [String: DType] = [
            "f2": .float16, "f4": .float32, "f8": .float64, "i1": .int8, "u1": .uint8, "i2": .int16,
            "u2": .uint16, "i4": .int32, "u4": .uint32, "i8": .int64, "u8": .uint64, "b1": .bool,
            "c8": .complex64, "c16": .complex128,
        ]
        guard "<>|=".contains(order), let dtype = table[code] else {
            let reason: String
            switch code.first {
            case "O": reason = "object arrays are pickled Python objects, which Octet never loads; save numeric arrays"
            case "S", "U", "a": reason = "string arrays are not supported; save numeric arrays"
            case "V": reason = "void/structured arrays are not supported; save one numeric array per input"
            default: reason = "expected one of <f2 <f4 <f8 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 |b1 <c8 <c16"
            }
            throw NumpyError.unsupportedDescr(file: file, descr: descr, reason: reason)
        }
        return (dtype, order == ">")
    }

    /// The NumPy type string Octet writes for `dtype` (always little-endian).
    static func descr(for dtype: DType) -> String? {
        switch dtype {
        case .float16: "<f2"
        case .float32: "<f4"
        case .float64: "<f8"
        case .int8: "|i1"
        case .uint8: "|u1"
        case .int16: "<i2"
        case .uint16: "<u2"
        case .int32: "<i4"
        case .uint32: "<u4"
        case .int64: "<i8"
        case .uint64: "<u8"
        case .bool: "|b1"
        case .complex64: "<c8"
        case .complex128: "<c16"
        default: nil
        }
    }

    /// Encodes the preamble and header for a little-endian C-order array (version 1.0, or 2.0
    /// when the header does not fit in 65,535 bytes), padded to a multiple of 64 bytes.
    static func encode(descr: String, shape: [Int]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        let dictionary = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        func build(prefixLength: Int) -> [UInt8] {
            let unpadded = prefixLength + dictionary.utf8.count + 1
            let padding = (64 - unpadded % 64) % 64
            return Array((dictionary + String(repeating: " ", count: padding) + "\n").utf8)
        }
        var header = build(prefixLength: 10)
        var out = magic
        if header.count <= 0xFFFF {
            out += [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)]
        } else {
            header = build(prefixLength: 12)
            out += [2, 0] + (0..<4).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) }
        }
        return out + header
    }
}
