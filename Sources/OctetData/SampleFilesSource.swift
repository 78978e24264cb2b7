import Foundation
import OctetGraph

/// A folder of per-sample `.npz` files (sorted by file name), each keyed by input name.
public struct SampleFilesSource: CalibrationSource {
    public let format = "folder of per-sample .npz files"
    public let paths: [String]
    let files: [URL]

    /// - Parameter files: the `.npz` files, in sample order.
    public init(folder: URL, files: [URL]) {
        paths = [folder.path]
        self.files = files
    }

    public var sampleCount: Int? { files.count }

    public func stream(firstIndex: Int) throws -> SampleStream {
        ListStream(firstIndex: firstIndex, loaders: files.map { url in
            {
                let archive = try NPZArchive(url: url)
                var values: [String: Tensor] = [:]
                var files: [String: String] = [:]
                for key in archive.keys {
                    values[key] = try archive.tensor(key)
                    files[key] = url.path
                }
                return (values, files)
            }
        })
    }
}
