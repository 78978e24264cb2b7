import Foundation
import OctetGraph

/// Arrays that stack samples on axis 0: one `.npz` whose keys are input names (ModelOpt's
/// layout), or a folder of `<input>.npy` files. Rows are read lazily from mapped files.
public struct StackedSource: CalibrationSource {
    public let format: String
    public let paths: [String]
    /// Arrays by input name.
    let arrays: [(name: String, array: StackedArray)]

    /// Opens a stacked `.npz`.
    /// - Parameter npz: the archive.
    public init(npz url: URL) throws {
        let archive = try NPZArchive(url: url)
        guard !archive.keys.isEmpty else { throw DataError.malformed(file: url.path, reason: "the archive holds no arrays") }
        arrays = try archive.keys.map { ($0, try archive.stackedArray($0)) }
        format = "stacked .npz (samples on axis 0)"
        paths = [url.path]
    }

    /// Opens a folder of `<input>.npy` files.
    /// - Parameters:
    ///   - folder: the folder.
    ///   - files: the `.npy` file names in it.
    public init(npyFolder folder: URL, files: [String]) throws {
        arrays = try files.sorted().map { file in
            (String(file.dropLast(4)), try StackedArray(npy: folder.appendingPathComponent(file)))
        }
        format = "folder of <input>.npy (samples on axis 0)"
        paths = [folder.path]
    }

    /// Row counts per array; they must agree.
    public var rowCounts: [String: Int] { Dictionary(uniqueKeysWithValues: arrays.map { ($0.name, $0.array.rowCount) }) }

    public var sampleCount: Int? { arrays.map(\.array.rowCount).min() }

    public func stream(firstIndex: Int) throws -> SampleStream {
        let count = sampleCount ?? 0
        let arrays = arrays
        return ListStream(firstIndex: firstIndex, loaders: (0..<count).map { row in
            {
                var values: [String: Tensor] = [:]
                var files: [String: String] = [:]
                for (name, array) in arrays {
                    let slice = try array.rows(row..<row + 1)
                    values[name] = array.shape.isEmpty ? slice : slice.unsafeReshaped(array.rowShape)
                    files[name] = array.source
                }
                return (values, files)
            }
        })
    }
}

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

/// ONNX test data sets: `test_data_set_N/input_K.pb`, one folder per sample, each tensor
/// matched to an input by the `name` stored in it.
public struct TestDataSetSource: CalibrationSource {
    public let format = "ONNX test_data_set folders"
    public let paths: [String]
    let folders: [URL]

    /// - Parameter folders: `test_data_set_*` folders in sample order.
    public init(root: URL, folders: [URL]) {
        paths = [root.path]
        self.folders = folders
    }

    public var sampleCount: Int? { folders.count }

    public func stream(firstIndex: Int) throws -> SampleStream {
        ListStream(firstIndex: firstIndex, loaders: folders.map { folder in
            {
                let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
                    .filter { $0.hasPrefix("input_") && $0.hasSuffix(".pb") }
                    .sorted { (Int($0.dropFirst(6).dropLast(3)) ?? 0) < (Int($1.dropFirst(6).dropLast(3)) ?? 0) }
                var values: [String: Tensor] = [:]
                var files: [String: String] = [:]
                for file in names {
                    let url = folder.appendingPathComponent(file)
                    let (name, tensor) = try TensorProtoFile.read(url)
                    guard !name.isEmpty else {
                        throw DataError.malformed(file: url.path, reason: "the tensor has no name, so it cannot be matched to a model input")
                    }
                    values[name] = tensor
                    files[name] = url.path
                }
                return (values, files)
            }
        })
    }
}
