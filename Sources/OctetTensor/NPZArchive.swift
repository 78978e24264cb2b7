import COctetKernels
import Foundation
import ZIPFoundation

/// A NumPy `.npz` archive opened for reading: a ZIP of `<key>.npy` members, stored or deflated.
/// Members are decoded one at a time, on request, each checked against its declared size and
/// CRC-32; a deflated member may not inflate past its declared size (a "zip bomb" stops there).
public struct NPZArchive {
    /// The archive file.
    public let url: URL
    /// Array names in archive order (member names without `.npy`).
    public let keys: [String]
    /// The file, memory-mapped.
    private let bytes: Data
    private let members: [String: ZipDirectory.Member]

    /// Deflate expands at most 1032:1; a member declaring more is lying about its size.
    static let largestDeflateRatio = 1032

    /// Opens `url` and lists its arrays.
    /// - Parameter url: an `.npz` file.
    /// - Throws: ``NumpyError/notArchive`` when the file is not a readable ZIP,
    ///   ``NumpyError/badMember`` when a member is not a `.npy` file or appears twice.
    public init(url: URL) throws {
        self.url = url
        try InputFileError.requireRegular(url)
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw NumpyError.io(file: url.path, reason: "cannot read: no such file or not readable")
        }
        do { bytes = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw NumpyError.io(file: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        let directory: ZipDirectory
        do { directory = try ZipDirectory(bytes) } catch let failure as ZipDirectory.Failure {
            throw NumpyError.notArchive(file: url.path, reason: failure.reason)
        }
        var keys: [String] = []
        var members: [String: ZipDirectory.Member] = [:]
        for member in directory.members where !(member.name.hasSuffix("/") && member.uncompressedSize == 0) {
            guard member.name.hasSuffix(".npy") else {
                throw NumpyError.badMember(file: url.path, member: member.name, reason: "not a .npy file (an .npz holds only .npy members)")
            }
            let key = String(member.name.dropLast(4))
            guard members[key] == nil else {
                throw NumpyError.badMember(file: url.path, member: member.name, reason: "appears twice in the archive")
            }
            keys.append(key)
            members[key] = member
        }
        self.keys = keys
        self.members = members
    }

    /// Decodes the array named `key`.
    /// - Parameter key: an entry of ``keys``.
    /// - Throws: ``NumpyError/missingKey`` or the member's decoding error.
    public func tensor(_ key: String) throws -> Tensor {
        let member = "\(url.path):\(key).npy"
        return try NPYFile.decode(try contents(of: key), file: member)
    }

    /// Reads only the header (type and shape) of the array named `key`.
    /// - Parameter key: an entry of ``keys``.
    public func header(_ key: String) throws -> NPYHeader {
        try NPYHeader.parse(try contents(of: key, limit: 12 + NPYHeader.maximumHeaderLength), file: "\(url.path):\(key).npy")
    }

    /// Where a stored (uncompressed) member's bytes are in the file, its CRC-32 checked; `nil`
    /// for a deflated member.
    func storedData(of key: String) throws -> Range<Int>? {
        guard let member = members[key], member.method == 0 else { return nil }
        let range = try location(of: member)
        var crc: UInt32 = 0
        try readFile(range) { chunk in crc = chunk.withUnsafeBytes { octet_crc32(crc, $0.baseAddress, $0.count) } }
        guard crc == member.crc32 else {
            throw NumpyError.badMember(file: url.path, member: member.name, reason: "its CRC-32 does not match (the file is corrupted)")
        }
        return range
    }

    /// The file range of `member`'s data, checked for a stored member's sizes and encryption.
    private func location(of member: ZipDirectory.Member) throws -> Range<Int> {
        func failure(_ reason: String) -> NumpyError { .badMember(file: url.path, member: member.name, reason: reason) }
        let range: Range<Int>
        do { range = try ZipDirectory.dataRange(of: member, in: bytes) } catch let error as ZipDirectory.Failure {
            throw failure(error.reason)
        }
        guard member.flags & 1 == 0 else { throw failure("it is encrypted, which NumPy files never are") }
        if member.method == 0, member.compressedSize != member.uncompressedSize {
            throw failure("it is stored uncompressed but declares \(member.compressedSize) stored and \(member.uncompressedSize) uncompressed bytes")
        }
        return range
    }

    /// Reads `range` of the file in pieces of at most 4 MiB through a file handle (reading the
    /// mapping instead would leave every page resident, growing the process's memory).
    private func readFile(_ range: Range<Int>, _ body: (Data) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw NumpyError.io(file: url.path, reason: "cannot read: no such file or not readable")
        }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: UInt64(range.lowerBound))
            var left = range.count
            while left > 0 {
                let chunk = try handle.read(upToCount: min(left, 4 << 20)) ?? Data()
                guard !chunk.isEmpty else { throw NumpyError.io(file: url.path, reason: "the file ended while reading it (was it truncated?)") }
                left -= chunk.count
                try body(chunk)
            }
        } catch let error as NumpyError {
            throw error
        } catch {
            throw NumpyError.io(file: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
    }

    /// The member's bytes, or its first `limit` bytes (then unchecked by CRC).
    private func contents(of key: String, limit: Int = .max) throws -> Data {
        guard let member = members[key] else { throw NumpyError.missingKey(file: url.path, key: key, available: keys) }
        func failure(_ reason: String) -> NumpyError { .badMember(file: url.path, member: member.name, reason: reason) }
        let range = try location(of: member)
        let data: Data
        switch member.method {
        case 0:
            var stored = Data()
            let wanted = range.lowerBound..<min(range.upperBound, range.lowerBound + min(limit, range.count))
            if let refusal = MemoryBudget.refusal(wanted.count) { throw failure("it \(refusal)") }
            stored.reserveCapacity(wanted.count)
            try readFile(wanted) { stored.append($0) }
            if wanted.count < range.count { return stored }
            data = stored
        case 8:
            data = try inflate(range, member: member, limit: limit, failure: failure)
            if limit < Int.max { return data }
        default:
            throw failure("compression method \(member.method) is not supported (NumPy writes stored or deflated members)")
        }
        let crc = data.withUnsafeBytes { octet_crc32(0, $0.baseAddress, $0.count) }
        guard crc == member.crc32 else { throw failure("its CRC-32 does not match (the file is corrupted)") }
        return data
    }

    /// Inflates a deflated member, refusing to produce more than it declares.
    private func inflate(_ range: Range<Int>, member: ZipDirectory.Member, limit: Int, failure: (String) -> NumpyError) throws -> Data {
        let declared = member.uncompressedSize
        guard declared / Self.largestDeflateRatio <= range.count + 1 else {
            throw failure("it declares \(declared) bytes from \(range.count) compressed bytes, more than deflate can expand")
        }
        let wanted = min(declared, limit)
        if let refusal = MemoryBudget.refusal(wanted) { throw failure("it \(refusal)") }
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw NumpyError.io(file: url.path, reason: "cannot read: no such file or not readable")
        }
        defer { try? handle.close() }
        struct Enough: Error {}
        struct TooLong: Error {}
        struct Truncated: Error {}
        var data = Data()
        data.reserveCapacity(wanted)
        do {
            _ = try Data.decompress(size: Int64(range.count), bufferSize: 1 << 16, skipCRC32: true, provider: { position, size in
                let start = Int(position)
                guard start < range.count else { throw Truncated() }
                try handle.seek(toOffset: UInt64(range.lowerBound + start))
                var chunk = try handle.read(upToCount: min(size, range.count - start)) ?? Data()
                guard !chunk.isEmpty else { throw Truncated() }
                // ZIPFoundation hands zlib `size` bytes of input whatever the chunk's length: pad
                // the last chunk so zlib never reads past it (zeros after a complete stream are
                // never read; after a truncated one they are an invalid block, so an error).
                if chunk.count < size { chunk.append(Data(count: size - chunk.count)) }
                return chunk
            }, consumer: { chunk in
                guard data.count + chunk.count <= declared else { throw TooLong() }
                data.append(chunk)
                if data.count >= limit { throw Enough() }
            })
        } catch is Enough {
            return data
        } catch is TooLong {
            throw failure("it inflates to more than the \(declared) bytes it declares")
        } catch is Truncated {
            throw failure("its compressed data ends before the deflate stream does")
        } catch {
            throw failure("its compressed data is corrupt")
        }
        guard data.count == declared else {
            throw failure("it inflates to \(data.count) bytes but declares \(declared)")
        }
        return data
    }

    /// Reads every array of an `.npz` file, in archive order.
    /// - Parameter url: an `.npz` file.
    public static func readAll(_ url: URL) throws -> [(key: String, tensor: Tensor)] {
        let archive = try NPZArchive(url: url)
        return try archive.keys.map { ($0, try archive.tensor($0)) }
    }

    /// Writes arrays to an `.npz` file atomically, as `np.savez` (stored) or
    /// `np.savez_compressed` (deflated) would.
    /// - Parameters:
    ///   - arrays: names and tensors, written in this order; names must be unique.
    ///   - url: destination.
    ///   - compressed: deflate members when true.
    /// - Throws: ``NumpyError`` naming the file.
    public static func write(_ arrays: [(key: String, tensor: Tensor)], to url: URL, compressed: Bool = false) throws {
        do {
            try AtomicFile.write(to: url) { temporary in
                let archive = try Archive(url: temporary, accessMode: .create)
                for (key, tensor) in arrays {
                    // ZIP stores a member's name length in 16 bits.
                    guard "\(key).npy".utf8.count <= Int(UInt16.max) else {
                        throw NumpyError.io(file: url.path, reason: "cannot store an array named with \(key.utf8.count) bytes: .npz member names are at most 65,531 bytes")
                    }
                    let member = try NPYFile.encode(tensor, file: "\(url.path):\(key).npy")
                    try archive.addEntry(
                        with: "\(key).npy", type: .file, uncompressedSize: Int64(member.count),
                        compressionMethod: compressed ? .deflate : .none
                    ) { position, size in
                        member.subdata(in: Int(position)..<Int(position) + size)
                    }
                }
            }
        } catch let error as NumpyError {
            throw error
        } catch {
            throw NumpyError.io(file: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
