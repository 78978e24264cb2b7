import COctetKernels
import Foundation
import Testing
import _OctetTestSupport
@testable import OctetTensor

/// `.npy` / `.npz` decoding from hand-built bytes (SPEC §7); NumPy-written files are covered
/// by the interop suite.
struct NumpyFileTests {
    /// A `.npy` file with the given header dictionary and payload (version 1.0).
    static func npy(_ dictionary: String, _ payload: [UInt8], major: UInt8 = 1) -> Data {
        var header = Array(dictionary.utf8)
        let prefix = major == 1 ? 10 : 12
        while (prefix + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
        if major == 1 {
            bytes += [UInt8(header.count & 0xFF), UInt8(header.count >> 8)]
        } else {
            bytes += [UInt8(header.count & 0xFF), UInt8(header.count >> 8), 0, 0]
        }
        return Data(bytes + header + payload)
    }

    @Test func littleEndianFloat() throws {
        let payload = [Float(1.5), -2].withUnsafeBytes { Array($0) }
        let tensor = try NPYFile.decode(Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", payload), file: "a.npy")
        #expect(tensor.dtype == .float32 && tensor.shape == [2])
        #expect(tensor.scalars(as: Float.self) == [1.5, -2])
    }

    @Test func bigEndianInt32AndLegacyLongs() throws {
        let data = Self.npy("{'descr': '>i4', 'fortran_order': False, 'shape': (1L, 2L), }", [0, 0, 0, 1, 0, 0, 1, 0])
        let tensor = try NPYFile.decode(data, file: "b.npy")
        #expect(tensor.shape == [1, 2])
        #expect(tensor.scalars(as: Int32.self) == [1, 256])
    }

    @Test func bigEndianComplexSwapsEachPart() throws {
        let parts: [Float] = [1, -2]
        let payload = parts.flatMap { value in withUnsafeBytes(of: value.bitPattern.bigEndian) { Array($0) } }
        let tensor = try NPYFile.decode(Self.npy("{'descr': '>c8', 'fortran_order': False, 'shape': (), }", payload), file: "c.npy")
        #expect(tensor.shape == [])
        tensor.withUnsafeBytes { #expect(Array($0.bindMemory(to: Float.self)) == [1, -2]) }
    }

    @Test func fortranOrderBecomesRowMajor() throws {
        // Column-major [[0, 1, 2], [3, 4, 5]] stores 0 3 1 4 2 5.
        let payload = [Int16(0), 3, 1, 4, 2, 5].withUnsafeBytes { Array($0) }
        let data = Self.npy("{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3), }", payload, major: 2)
        let tensor = try NPYFile.decode(data, file: "f.npy")
        #expect(tensor.scalars(as: Int16.self) == [0, 1, 2, 3, 4, 5])
    }

    @Test func version3Utf8Header() throws {
        let data = Self.npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", [1, 0, 1], major: 3)
        #expect(try NPYFile.decode(data, file: "v3.npy").scalars(as: Bool.self) == [true, false, true])
    }

    @Test func encodedHeaderIsAlignedAndParsesBack() throws {
        let tensor = Tensor(shape: [2, 0, 3], scalars: [Int64]())
        let data = try NPYFile.encode(tensor, file: "e.npy")
        let header = try NPYHeader.parse(data, file: "e.npy")
        #expect(header.dataOffset % 64 == 0)
        #expect(header.shape == [2, 0, 3] && header.dtype == .int64 && !header.fortranOrder)
        #expect(try NPYFile.decode(data, file: "e.npy") == tensor)
        let scalar = try NPYFile.encode(Tensor(shape: [], scalars: [Float(3)]), file: "s.npy")
        #expect(String(decoding: scalar.prefix(64), as: UTF8.self).contains("'shape': ()"))
        let vector = try NPYFile.encode(Tensor(shape: [4], scalars: [UInt8](repeating: 1, count: 4)), file: "v.npy")
        #expect(String(decoding: vector.prefix(64), as: UTF8.self).contains("'shape': (4,)"))
    }

    @Test func errorsNameTheFile() {
        #expect(throws: NumpyError.notNumpy(file: "x.npy")) { try NPYFile.decode(Data("hello world!".utf8), file: "x.npy") }
        #expect(throws: NumpyError.unsupportedVersion(file: "x.npy", major: 9, minor: 0)) {
            try NPYFile.decode(Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 9, 0, 0, 0]), file: "x.npy")
        }
        let corrupt = Self.npy("{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,), }", [UInt8](repeating: 0, count: 8))
        #expect(throws: NumpyError.self) { try NPYFile.decode(corrupt, file: "x.npy") }
        let short = Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", [0, 0, 0, 0])
        #expect(throws: NumpyError.dataLength(file: "x.npy", expected: 8, actual: 4)) { try NPYFile.decode(short, file: "x.npy") }
        let object = Self.npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", [0x80, 0x04])
        do {
            _ = try NPYFile.decode(object, file: "x.npy")
            Issue.record("an object array decoded")
        } catch {
            #expect(error.localizedDescription.contains("x.npy") && error.localizedDescription.contains("pickled"))
        }
        let cut = Self.npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", []).prefix(30)
        #expect(throws: NumpyError.self) { try NPYFile.decode(Data(cut), file: "x.npy") }
    }

    @Test func bfloat16HasNoNumpyType() {
        #expect(throws: NumpyError.unrepresentable(file: "b.npy", dtype: .bfloat16)) {
            try NPYFile.encode(Tensor(zeros: .bfloat16, shape: [1]), file: "b.npy")
        }
    }

    @Test(arguments: [false, true])
    func npzRoundTrip(compressed: Bool) throws {
        let folder = try TemporaryFolder()
        let arrays: [(key: String, tensor: Tensor)] = [
            ("input_ids", Tensor(shape: [2, 3], scalars: [Int64](0..<6))),
            ("images:0", Tensor(shape: [1, 2, 2], scalars: [Float](repeating: 0.5, count: 4))),
            ("mask", Tensor(shape: [3], scalars: [true, false, true])),
        ]
        let url = folder.file("feeds.npz")
        try NPZArchive.write(arrays, to: url, compressed: compressed)
        let archive = try NPZArchive(url: url)
        #expect(archive.keys == ["input_ids", "images:0", "mask"])
        for (key, tensor) in arrays { #expect(try archive.tensor(key) == tensor) }
        #expect(try archive.header("images:0").shape == [1, 2, 2])
        #expect(throws: NumpyError.missingKey(file: url.path, key: "nope", available: archive.keys)) { try archive.tensor("nope") }
    }

    @Test func npzThatIsNotAZip() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("bad.npz")
        try Data("definitely not a zip, whatever its name says".utf8).write(to: url)
        #expect(throws: NumpyError.notArchive(file: url.path, reason: "it is not a ZIP file (no end-of-central-directory record)")) { try NPZArchive(url: url) }
        try Data("PK".utf8).write(to: url)
        #expect(throws: NumpyError.notArchive(file: url.path, reason: "it is too short to be a ZIP file (2 bytes)")) { try NPZArchive(url: url) }
    }

    @Test func headersNestingTooDeepOrTooLongAreRefused() throws {
        let nested = String(repeating: "(", count: 40_000) + String(repeating: ")", count: 40_000)
        let text = "{'descr': '<f4', 'fortran_order': False, 'shape': \(nested), }\n"
        var bytes = NPYHeader.magic + [2, 0]
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: text.utf8.count >> (8 * $0)) }
        bytes += Array(text.utf8)
        #expect(throws: NumpyError.corruptHeader(file: "deep.npy", reason: "values nest deeper than 32 levels (at offset 81)")) {
            try NPYHeader.parse(bytes, file: "deep.npy")
        }
        let long = NPYHeader.magic + [2, 0, 0xFF, 0xFF, 0xFF, 0x7F]
        #expect(throws: NumpyError.corruptHeader(file: "long.npy", reason: "header declares 2147483647 bytes; Octet reads headers of at most 1048576 bytes")) {
            try NPYHeader.parse(long, file: "long.npy")
        }
    }

    @Test func shapesFollowNumpysSizeRule() throws {
        // Non-zero dimensions must fit in 64 bits even when a zero dimension empties the array.
        #expect(Checked.elementCount([0, 1 << 40, 1 << 40]) == nil)
        #expect(Checked.elementCount([0, 1 << 40]) == 0)
        #expect(Checked.elementCount([3, -1]) == nil)
        #expect(Checked.byteCount([1 << 61], bitWidth: 32) == nil)
        #expect(Checked.byteCount([1 << 60], bitWidth: 8) == 1 << 60)
        #expect(Checked.byteCount([3], bitWidth: 4) == 2)
        #expect(Checked.sum([Int.max, 1]) == nil)
        #expect(Checked.product([1 << 32, 1 << 31]) == nil)
        #expect(Checked.product([1 << 32, 1 << 30]) == 1 << 62)
        // Found by the npy fuzzer: 2.4e17 float64 elements fit in bytes but not in bits.
        #expect(DType.float64.byteCount(forElements: 240_000_000_000_000_000) == 1_920_000_000_000_000_000)
        #expect(DType.int4.byteCount(forElements: 3) == 2)
        let header = Array("{'descr': '>f8', 'fortran_order': False, 'shape': (80000000000000000, 3), }\n".utf8)
        let bytes = NPYHeader.magic + [1, 0, UInt8(header.count), 0] + header + [UInt8](repeating: 0, count: 16)
        #expect(throws: NumpyError.dataLength(file: "big.npy", expected: 1_920_000_000_000_000_000, actual: 16)) {
            try NPYFile.decode(Data(bytes), file: "big.npy")
        }
    }

    @Test func npyFileWriteIsAtomicAndReadable() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("x.npy")
        let tensor = Tensor(shape: [2], scalars: [Double(1), 2])
        try NPYFile.write(tensor, to: url)
        #expect(try NPYFile.read(url) == tensor)
        #expect(try NPYFile.readHeader(url).shape == [2])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.url.path)
        #expect(leftovers == ["x.npy"])
    }

    @Test func storedMembersAreReadInPlaceAndTheirCRCIsChecked() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("a.npz")
        let tensor = Tensor(shape: [64], scalars: (0..<64).map { Float($0) })
        try NPZArchive.write([("x", tensor)], to: url)
        #expect(try NPZArchive(url: url).tensor("x") == tensor)
        var bytes = try Data(contentsOf: url)
        let marker = Data([0, 0, 0x7C, 0x42])  // 63.0 as little-endian float32
        let position = try #require(bytes.range(of: marker)).lowerBound
        bytes[position + 3] ^= 0x01
        try bytes.write(to: url)
        #expect(throws: NumpyError.self) { try NPZArchive(url: url).tensor("x") }
        do { _ = try NPZArchive(url: url).tensor("x") } catch {
            #expect(error.localizedDescription.contains("CRC-32 does not match"), "\(error.localizedDescription)")
        }
        #expect("123456789".utf8.withContiguousStorageIfAvailable { octet_crc32(0, $0.baseAddress, $0.count) } == 0xCBF4_3926)
    }
}
