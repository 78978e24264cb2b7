import COctetKernels
import Foundation
import OctetTensor

/// SHA-256 (FIPS 180-4), streamed: model content hashes and calibration data fingerprints.
public struct SHA256 {
    private var state = octet_sha256()

    /// A fresh hash.
    public init() { octet_sha256_init(&state) }

    /// Adds bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        octet_sha256_update(&state, base, bytes.count)
    }

    /// Adds the bytes of `data`.
    public mutating func update(_ data: some DataProtocol) {
        for region in data.regions { region.withUnsafeBytes { update($0) } }
    }

    /// Adds a string's UTF-8 bytes followed by a 0 byte (so adjacent strings cannot run together).
    public mutating func update(field: String) {
        update(Data(field.utf8))
        update([UInt8(0)])
    }

    /// The 32-byte digest (the hash cannot be updated afterwards).
    public mutating func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { octet_sha256_final(&state, $0.baseAddress) }
        return digest
    }

    /// Lowercase hex of a digest.
    public static func hex(_ digest: [UInt8]) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    /// Adds a file's contents, read in 4 MiB pieces.
    /// - Throws: ``DataError`` naming a file that cannot be read.
    public mutating func update(contentsOf url: URL) throws {
        try InputFileError.requireRegular(url)
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw DataError.unrecognized(path: url.path, reason: "cannot be read")
        }
        defer { try? handle.close() }
        while true {
            let piece = handle.readData(ofLength: 4 << 20)
            if piece.isEmpty { break }
            update(piece)
        }
    }
}
