import Foundation

/// The members of a ZIP archive as Python's `zipfile` (and so `np.load`) finds them: the end
/// record is the last one in the final 64 KiB, the central directory is located from the end
/// record's position and size (its stated offset only tells how far the whole archive was
/// shifted, as by a prepended stub), entries are read until the directory's size is used up
/// (the stated count is not trusted), and ZIP64 extra fields replace saturated sizes and
/// offsets. Every offset and size is checked against the file; a structure that does not
/// hold is an error with a reason, never a silently shorter member list.
struct ZipDirectory {
    struct Member {
        let name: String
        /// 0 = stored, 8 = deflated.
        let method: Int
        /// General purpose flags (bit 0: encrypted).
        let flags: Int
        let compressedSize: Int
        let uncompressedSize: Int
        /// Offset of the member's local header in the file (shift already applied).
        let headerOffset: Int
        /// CRC-32 of the uncompressed data, from the central directory.
        let crc32: UInt32
    }

    /// Why an archive or member cannot be read.
    struct Failure: Error { let reason: String }

    let members: [Member]

    /// Parses the directory of the archive in `bytes` (usually the memory-mapped file).
    /// - Throws: ``Failure`` saying which structure is broken.
    init(_ bytes: Data) throws {
        let reader = ByteReader(bytes: bytes)
        let size = bytes.count
        guard size >= 22 else { throw Failure(reason: "it is too short to be a ZIP file (\(size) bytes)") }
        var end = -1
        if reader.u32(size - 22) == 0x0605_4B50, reader.u16(size - 2) == 0 {
            end = size - 22
        } else {
            var position = size - 22
            while position >= max(0, size - 65_557) {
                if reader.u32(position) == 0x0605_4B50 { end = position; break }
                position -= 1
            }
        }
        guard end >= 0, let directorySize32 = reader.u32(end + 12), let directoryOffset32 = reader.u32(end + 16) else {
            throw Failure(reason: "it is not a ZIP file (no end-of-central-directory record)")
        }
        var directorySize = directorySize32
        var directoryOffset = directoryOffset32
        var location = end
        if end >= 20, reader.u32(end - 20) == 0x0706_4B50 {
            let record = end - 20 - 56
            guard record >= 0, reader.u32(record) == 0x0606_4B50, let size64 = reader.u64(record + 40),
                  let offset64 = reader.u64(record + 48)
            else { throw Failure(reason: "its ZIP64 end-of-central-directory record is corrupt") }
            guard reader.u32(end - 16) == 0, (reader.u32(end - 4) ?? 0) <= 1 else {
                throw Failure(reason: "it spans several disks, which is not supported")
            }
            directorySize = size64
            directoryOffset = offset64
            location = record
        }
        guard let start = Checked.subtract(location, directorySize), start >= 0,
              let shift = Checked.subtract(start, directoryOffset)
        else { throw Failure(reason: "its central directory size (\(directorySize) bytes) does not fit before its end record") }
        var members: [Member] = []
        var cursor = start
        let directoryEnd = start + directorySize
        while cursor < directoryEnd {
            guard cursor + 46 <= directoryEnd, reader.u32(cursor) == 0x0201_4B50,
                  let flags = reader.u16(cursor + 8), let method = reader.u16(cursor + 10), let crc = reader.u32(cursor + 16),
                  var compressed = reader.u32(cursor + 20), var uncompressed = reader.u32(cursor + 24),
                  let nameLength = reader.u16(cursor + 28), let extraLength = reader.u16(cursor + 30),
                  let commentLength = reader.u16(cursor + 32), var local = reader.u32(cursor + 42)
            else { throw Failure(reason: "its central directory has a corrupt entry at offset \(cursor)") }
            let nameStart = cursor + 46
            var extra = nameStart + nameLength
            let extraEnd = extra + extraLength
            guard extraEnd + commentLength <= directoryEnd else {
                throw Failure(reason: "a central directory entry at offset \(cursor) runs past the directory's end")
            }
            let name = Self.decodeName(bytes[bytes.startIndex + nameStart..<bytes.startIndex + nameStart + nameLength], utf8: flags & 0x800 != 0)
            // ZIP64 extra field: 64-bit values for the fields saturated at 0xFFFFFFFF, in order.
            while extra + 4 <= extraEnd, let id = reader.u16(extra), let fieldSize = reader.u16(extra + 2) {
                guard extra + 4 + fieldSize <= extraEnd else { throw Failure(reason: "member '\(name)' has a corrupt extra field") }
                if id == 0x0001 {
                    var field = extra + 4
                    func next() throws -> Int {
                        guard field + 8 <= extra + 4 + fieldSize, let value = reader.u64(field) else {
                            throw Failure(reason: "member '\(name)' has a corrupt ZIP64 extra field")
                        }
                        field += 8
                        return value
                    }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if local == 0xFFFF_FFFF { local = try next() }
                }
                extra += 4 + fieldSize
            }
            guard let headerOffset = Checked.add(local, shift), headerOffset >= 0, headerOffset < size else {
                throw Failure(reason: "member '\(name)' starts at offset \(local), outside the file")
            }
            members.append(Member(name: name, method: method, flags: flags, compressedSize: compressed, uncompressedSize: uncompressed,
                                  headerOffset: headerOffset, crc32: UInt32(truncatingIfNeeded: crc)))
            cursor = extraEnd + commentLength
        }
        self.members = members
    }

    /// Where `member`'s data starts, from its local header (whose name must match the directory's).
    /// - Parameter bytes: the whole archive.
    static func dataRange(of member: Member, in bytes: Data) throws -> Range<Int> {
        let reader = ByteReader(bytes: bytes)
        guard reader.u32(member.headerOffset) == 0x0403_4B50, let nameLength = reader.u16(member.headerOffset + 26),
              let extraLength = reader.u16(member.headerOffset + 28)
        else { throw Failure(reason: "its local header is missing or corrupt") }
        let nameStart = member.headerOffset + 30
        guard nameStart + nameLength <= bytes.count,
              decodeName(bytes[bytes.startIndex + nameStart..<bytes.startIndex + nameStart + nameLength], utf8: member.flags & 0x800 != 0) == member.name
        else { throw Failure(reason: "its local header names another file than the central directory") }
        let start = nameStart + nameLength + extraLength
        guard let end = Checked.add(start, member.compressedSize), end <= bytes.count else {
            throw Failure(reason: "the archive ends inside this member (\(member.compressedSize) bytes declared)")
        }
        return start..<end
    }

    /// A member name: UTF-8 when flagged, otherwise code page 437 (as `zipfile` decodes it).
    static func decodeName(_ bytes: Data, utf8: Bool) -> String {
        if utf8 || bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(bytes.map { $0 < 0x80 ? Character(UnicodeScalar($0)) : codePage437[Int($0) - 0x80] })
    }

    private static let codePage437 = Array(
        "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{A0}")
}

/// Little-endian integers at byte offsets of `bytes`, `nil` past its end.
private struct ByteReader {
    let bytes: Data

    func u16(_ offset: Int) -> Int? {
        guard offset >= 0, offset <= bytes.count - 2 else { return nil }
        return Int(bytes[bytes.startIndex + offset]) | Int(bytes[bytes.startIndex + offset + 1]) << 8
    }

    func u32(_ offset: Int) -> Int? {
        guard let low = u16(offset), let high = u16(offset + 2) else { return nil }
        return low | high << 16
    }

    /// A 64-bit field; values of 2^62 and more (no real file) read as `nil`.
    func u64(_ offset: Int) -> Int? {
        guard let low = u32(offset), let high = u32(offset + 4), high < 1 << 30 else { return nil }
        return low | high << 32
    }
}
