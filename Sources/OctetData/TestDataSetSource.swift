import Foundation
import OctetGraph

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
