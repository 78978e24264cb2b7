import Foundation
import OctetData
import OctetGraph

/// A model's content hash: SHA-256 over the model file's bytes, then, for each external data
/// file the model reads (in order of first use), its location and bytes. Stats files and cache
/// sidecars record it to refuse statistics of another model.
public enum ModelHash {
    /// The hash of the model at `url`.
    /// - Parameters:
    ///   - url: the `.onnx` file.
    ///   - model: the model loaded from it (for its external data locations).
    /// - Throws: ``DataError`` naming a file that cannot be read.
    public static func of(_ url: URL, model: Model) throws -> String {
        var hash = SHA256()
        try hash.update(contentsOf: url)
        let folder = url.deletingLastPathComponent()
        for file in ModelSummary(model: model, file: url.lastPathComponent).externalData {
            hash.update(field: file.location)
            try hash.update(contentsOf: folder.appendingPathComponent(file.location))
        }
        return SHA256.hex(hash.finalize())
    }
}
