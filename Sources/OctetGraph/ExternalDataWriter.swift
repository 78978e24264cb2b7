import Foundation

/// Appends tensor bytes to an external data file while a model is being saved. Each tensor
/// starts at a multiple of 4,096 bytes so readers can map it directly.
final class ExternalDataWriter {
    /// Location written into the model, relative to the model's folder.
    let location: String
    /// Tensors with fewer bytes than this stay embedded.
    let sizeThreshold: Int
    private let handle: FileHandle
    private var offset = 0

    /// - Parameters:
    ///   - location: file name relative to the model's folder.
    ///   - temporary: where the bytes are written until the save completes.
    ///   - sizeThreshold: smallest tensor (in bytes) that goes external.
    init(location: String, temporary: URL, sizeThreshold: Int) throws {
        self.location = location
        self.sizeThreshold = sizeThreshold
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw ModelError.unwritable(file: temporary.path, reason: "cannot create the external data file")
        }
        handle = try FileHandle(forWritingTo: temporary)
    }

    /// Writes `tensor` when it is large enough and returns where; `nil` keeps it embedded.
    func take(_ tensor: Tensor) throws -> ExternalDataReference? {
        guard tensor.byteCount >= sizeThreshold, tensor.byteCount > 0 else { return nil }
        let padding = (4096 - offset % 4096) % 4096
        if padding > 0 { try handle.write(contentsOf: Data(count: padding)) }
        offset += padding
        let reference = ExternalDataReference(location: location, offset: offset, length: tensor.byteCount)
        try handle.write(contentsOf: tensor.data)
        offset += tensor.byteCount
        return reference
    }

    /// Bytes written so far.
    var byteCount: Int { offset }

    func close() throws { try handle.close() }
}
