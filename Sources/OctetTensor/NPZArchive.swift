import COctetKernels
import Foundation
import ZIPFoundation

/// A NumPy `.npz` archive opened for reading: a ZIP of `<key>.npy` members, stored or deflated.
/// Members are decoded one at a time, on request.
public struct NPZArchive {
    /// The archive file.
    public let url: URL
    /// Array names in archive order (member names without `.npy`).
    public let keys: [String]
    private let archive: Archive
    private let entries: [String: Entry]
    /// The central directory as Octet parses it, for reading stored members in place.
    private let directory: [String: ZipDirectory.Member]

    /// Opens `url` and lists its arrays.
    /// - Parameter url: an `.npz` file.
    /// - Throws: ``NumpyError/notArchive`` when the file is not a ZIP, ``NumpyError/badMember``
    ///   when a member is not a `.npy` file.
    public init(url: URL) throws {
        self.url = url
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw NumpyError.io(file: url.path, reason: "cannot read: no such file or not readable")
        }
        do { archive = try Archive(url: url, accessMode: .read) } catch {
            throw NumpyError.notArchive(file: url.path, reason: "it is not a ZIP file")
        }
        var keys: [String] = []
        var entries: [String: Entry] = [:]
        for entry in archive where entry.type == .file {
            guard entry.path.hasSuffix(".npy") else {
                throw NumpyError.badMember(file: url.path, member: entry.path, reason: "not a .npy file (an .npz holds only .npy members)")
            }
            let key = String(entry.path.dropLast(4))
            keys.append(key)
            entries[key] = entry
        }
        self.keys = keys
        self.entries = entries
        let mapped = try? Data(contentsOf: url, options: .alwaysMapped)
        directory = Dictionary((mapped.flatMap(ZipDirectory.init)?.members ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Decodes the array named `key`.
    /// - Parameter key: an entry of ``keys``.
    /// - Throws: ``NumpyError/missingKey`` or the member's decoding error.
    public func tensor(_ key: String) throws -> Tensor {
        let member = "\(url.path):\(key).npy"
        return try NPYFile.decode(try bytes(of: key), file: member)
    }

    /// Reads only the header (type and shape) of the array named `key`.
    /// - Parameter key: an entry of ``keys``.
    public func header(_ key: String) throws -> NPYHeader {
        try NPYHeader.parse(try bytes(of: key, limit: 1 << 16), file: "\(url.path):\(key).npy")
    }

    private func bytes(of key: String, limit: Int = .max) throws -> Data {
        guard let entry = entries[key] else { throw NumpyError.missingKey(file: url.path, key: key, available: keys) }
        var data = Data()
        do {
            if limit < Int.max {
                // Stop early by throwing once enough of the member has been decompressed.
                struct Enough: Error {}
                do {
                    _ = try archive.extract(entry, bufferSize: 16_384, skipCRC32: true) { chunk in
                        data.append(chunk)
                        if data.count >= limit { throw Enough() }
                    }
                } catch is Enough {}
            } else if let stored = directory[entry.path], stored.method == 0, stored.compressedSize == stored.uncompressedSize {
                return try storedBytes(stored, member: entry.path)
            } else {
                data.reserveCapacity(Int(clamping: entry.uncompressedSize))
                _ = try archive.extract(entry, skipCRC32: false) { data.append($0) }
            }
        } catch {
            throw NumpyError.badMember(file: url.path, member: entry.path, reason: "cannot be extracted (\(error))")
        }
        return data
    }

    /// A stored (uncompressed) member read in one piece from the file, its CRC-32 checked.
    private func storedBytes(_ stored: ZipDirectory.Member, member: String) throws -> Data {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw NumpyError.io(file: url.path, reason: "cannot read: no such file or not readable")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            try handle.seek(toOffset: UInt64(stored.dataOffset))
            data = try handle.read(upToCount: stored.uncompressedSize) ?? Data()
        } catch {
            throw NumpyError.badMember(file: url.path, member: member, reason: "cannot be read (\(error.localizedDescription))")
        }
        guard data.count == stored.uncompressedSize else {
            throw NumpyError.badMember(file: url.path, member: member, reason: "the archive ends inside this member")
        }
        let crc = data.withUnsafeBytes { octet_crc32(0, $0.baseAddress, $0.count) }
        guard crc == stored.crc32 else {
            throw NumpyError.badMember(file: url.path, member: member, reason: "its CRC-32 does not match (the file is corrupted)")
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
