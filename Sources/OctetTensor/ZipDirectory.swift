import Foundation

/// The members of a ZIP archive read from its central directory (ZIP64 aware), with where each
/// member's data starts, so stored (uncompressed) members can be read in place.
struct ZipDirectory {
    struct Member {
        let name: String
        /// 0 = stored, 8 = deflated.
        let method: UInt16
        let compressedSize: Int
        let uncompressedSize: Int
        /// Offset of the member's data (after its local header) in the file.
        let dataOffset: Int
        /// CRC-32 of the uncompressed data, from the central directory.
        let crc32: UInt32
    }

    let members: [Member]

    /// Parses the directory of the archive in `bytes`; `nil` when it is not a readable ZIP.
    init?(_ bytes: Data) {
        func u16(_ offset: Int) -> Int? {
            guard offset >= 0, offset + 2 <= bytes.count else { return nil }
            return Int(bytes[bytes.startIndex + offset]) | Int(bytes[bytes.startIndex + offset + 1]) << 8
        }
        func u32(_ offset: Int) -> Int? {
            guard let low = u16(offset), let high = u16(offset + 2) else { return nil }
            return low | high << 16
        }
        func u64(_ offset: Int) -> Int? {
            guard let low = u32(offset), let high = u32(offset + 4), high < 1 << 30 else { return nil }
            return low | high << 32
        }
        // End of central directory: the last 0x06054b50 within the final 64 KiB + 22 bytes.
        var end = -1
        var position = bytes.count - 22
        while position >= max(0, bytes.count - 65_557) {
            if u32(position) == 0x0605_4B50 { end = position; break }
            position -= 1
        }
        guard end >= 0, var count = u16(end + 10), var directory = u32(end + 16) else { return nil }
        // ZIP64: a locator just before the record points at the ZIP64 end record.
        if end >= 20, u32(end - 20) == 0x0706_4B50, let record = u64(end - 12), u32(record) == 0x0606_4B50,
           let count64 = u64(record + 32), let directory64 = u64(record + 48)
        {
            count = count64
            directory = directory64
        }
        var members: [Member] = []
        var cursor = directory
        for _ in 0..<count {
            guard u32(cursor) == 0x0201_4B50, let method = u16(cursor + 10), let crc = u32(cursor + 16), var compressed = u32(cursor + 20),
                  var uncompressed = u32(cursor + 24), let nameLength = u16(cursor + 28), let extraLength = u16(cursor + 30),
                  let commentLength = u16(cursor + 32), var local = u32(cursor + 42),
                  cursor + 46 + nameLength <= bytes.count
            else { return nil }
            let nameStart = bytes.startIndex + cursor + 46
            let name = String(decoding: bytes[nameStart..<nameStart + nameLength], as: UTF8.self)
            // ZIP64 extra field: 64-bit values for the fields saturated at 0xFFFFFFFF, in order.
            var extra = cursor + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd, let id = u16(extra), let size = u16(extra + 2) {
                if id == 0x0001 {
                    var field = extra + 4
                    if uncompressed == 0xFFFF_FFFF, let value = u64(field) { uncompressed = value; field += 8 }
                    if compressed == 0xFFFF_FFFF, let value = u64(field) { compressed = value; field += 8 }
                    if local == 0xFFFF_FFFF, let value = u64(field) { local = value }
                }
                extra += 4 + size
            }
            guard u32(local) == 0x0403_4B50, let localName = u16(local + 26), let localExtra = u16(local + 28) else { return nil }
            members.append(Member(name: name, method: UInt16(method), compressedSize: compressed, uncompressedSize: uncompressed,
                                  dataOffset: local + 30 + localName + localExtra, crc32: UInt32(truncatingIfNeeded: crc)))
            cursor = extraEnd + commentLength
        }
        self.members = members
    }
}
