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
        paths = files.count == 1 ? [folder.appendingPathComponent(files[0]).path] : [folder.path]
    }

    /// Row counts per array; they must agree.
    public var rowCounts: [String: Int] { Dictionary(uniqueKeysWithValues: arrays.map { ($0.name, $0.array.rowCount) }) }

    public var sampleCount: Int? { arrays.map(\.array.rowCount).min() }

    public func stream(firstIndex: Int) throws -> SampleStream {
        let count = sampleCount ?? 0
        let arrays = arrays
        return ListStream(firstIndex: firstIndex, count: count) { row in
            var values: [String: Tensor] = [:]
            var files: [String: String] = [:]
            for (name, array) in arrays {
                let slice = try array.rows(row..<row + 1)
                values[name] = array.shape.isEmpty ? slice : slice.unsafeReshaped(array.rowShape)
                files[name] = array.source
            }
            return (values, files)
        }
    }
}
