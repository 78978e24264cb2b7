import Foundation
internal import ONNXProto
internal import SwiftProtobuf

/// How ``Model/save(to:options:)`` places tensor data.
public struct SaveOptions: Sendable {
    /// Where tensor data goes.
    public enum ExternalData: Sendable, Equatable {
        /// Embedded, unless the model would pass protobuf's 2 GB limit; then external.
        case automatic
        /// Tensors of at least ``SaveOptions/sizeThreshold`` bytes go to the external file.
        case always
        /// Everything embedded (fails past 2 GB).
        case never
    }

    /// Placement policy.
    public var externalData: ExternalData
    /// External file name relative to the model's folder; default `<model file name>.data`.
    public var location: String?
    /// Smallest tensor, in bytes, moved to external data.
    public var sizeThreshold: Int
    /// Total tensor bytes above which `.automatic` goes external (just under 2 GiB).
    public var automaticLimit: Int

    /// Creates options.
    public init(externalData: ExternalData = .automatic, location: String? = nil, sizeThreshold: Int = 1024,
                automaticLimit: Int = (1 << 31) - (64 << 20)) {
        self.externalData = externalData
        self.location = location
        self.sizeThreshold = sizeThreshold
        self.automaticLimit = automaticLimit
    }
}

/// What ``Model/save(to:options:)`` wrote.
public struct SaveReport: Sendable, Equatable {
    /// Size of the model file in bytes.
    public var modelBytes: Int
    /// External data file location relative to the model's folder, when one was written.
    public var externalLocation: String?
    /// Size of the external data file in bytes (0 when none).
    public var externalBytes: Int
}

extension Model {
    /// Loads an ONNX model file, reading external data from the model's folder, and validates it.
    /// - Parameters:
    ///   - url: the `.onnx` file.
    ///   - validate: run ``Graph/validate(model:)`` and throw its problems.
    /// - Throws: ``ModelError`` naming the file and the tensor or node at fault.
    public static func load(contentsOf url: URL, validate: Bool = true) throws -> Model {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw ModelError.unreadable(file: url.path, reason: "no such file")
        }
        guard !isFolder.boolValue else { throw ModelError.unreadable(file: url.path, reason: "it is a folder, not a model file") }
        try InputFileError.requireRegular(url)
        // The main graph's initializers one at a time from the mapped file when the file has the
        // usual layout (``InitializerStream``); otherwise the whole message is parsed, and the
        // mapped file released once parsed, before the tensors are converted.
        let streamed = try { () throws -> Model? in
            guard let mapped = MappedFile(path: url.path) else { return nil }
            let decoder = ONNXDecoder(file: url.path, external: ExternalDataResolver(modelFile: url.path, folder: url.deletingLastPathComponent()))
            return try InitializerStream.load(mapped, decoder: decoder)
        }()
        if let model = streamed { return try validated(model, file: url.path, validate: validate) }
        var proto = try { () throws -> Onnx_ModelProto in
            let data: Data
            do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
                throw ModelError.unreadable(file: url.path, reason: error.localizedDescription)
            }
            return try parse(data, file: url.path)
        }()
        return try decode(&proto, file: url.path, folder: url.deletingLastPathComponent(), validate: validate)
    }

    /// Decodes a serialized ONNX model.
    /// - Parameters:
    ///   - data: the protobuf bytes.
    ///   - file: name used in errors.
    ///   - folder: where external data files are looked up; `nil` refuses external data.
    ///   - validate: run ``Graph/validate(model:)`` and throw its problems.
    public static func decode(_ data: Data, file: String = "<memory>", folder: URL? = nil, validate: Bool = true) throws -> Model {
        var proto = try parse(data, file: file)
        return try decode(&proto, file: file, folder: folder, validate: validate)
    }

    /// The protobuf message of a serialized model.
    private static func parse(_ data: Data, file: String) throws -> Onnx_ModelProto {
        guard !data.isEmpty else { throw ModelError.notONNX(file: file, reason: "the file is empty") }
        let proto: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 200
            proto = try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw ModelError.notONNX(file: file, reason: "protobuf decoding failed (\(error)); the file is truncated or not an ONNX model")
        }
        guard proto.irVersion > 0, proto.hasGraph else {
            throw ModelError.notONNX(file: file, reason: "no IR version or graph; the file is not an ONNX model")
        }
        return proto
    }

    /// Converts a parsed model, emptying `proto` as it goes (see ``ONNXDecoder/model(_:)``).
    private static func decode(_ proto: inout Onnx_ModelProto, file: String, folder: URL?, validate: Bool) throws -> Model {
        let decoder = ONNXDecoder(file: file, external: ExternalDataResolver(modelFile: file, folder: folder))
        return try validated(try decoder.model(&proto), file: file, validate: validate)
    }

    /// `model`, after ``Graph/validate(model:)`` found no problem (when asked).
    private static func validated(_ model: Model, file: String, validate: Bool) throws -> Model {
        if validate {
            let problems = model.graph.validate(model: model)
            if !problems.isEmpty { throw ModelError.invalidGraph(file: file, problems: problems) }
        }
        return model
    }

    /// The model serialized with every tensor embedded.
    public func serializedData() throws -> Data {
        try ONNXEncoder(external: nil).model(self).serializedBytes()
    }

    /// Total bytes of initializers and constant tensors, subgraphs included.
    public var tensorByteCount: Int {
        func bytes(_ graph: Graph) -> Int {
            graph.initializers.reduce(0) { $0 + $1.tensor.byteCount }
                + graph.nodes.reduce(0) { total, node in
                    total + node.attributes.reduce(0) { sum, attribute in
                        switch attribute.value {
                        case .tensor(let constant): sum + constant.tensor.byteCount
                        case .tensors(let constants): sum + constants.reduce(0) { $0 + $1.tensor.byteCount }
                        case .graph(let inner): sum + bytes(inner)
                        case .graphs(let inners): sum + inners.reduce(0) { $0 + bytes($1) }
                        default: sum
                        }
                    }
                }
        }
        return bytes(graph)
    }

    /// Writes the model atomically (temporary files, then renames), with external data as
    /// `options` say.
    /// - Parameters:
    ///   - url: destination `.onnx` file; its folder must exist.
    ///   - options: external data placement.
    /// - Returns: the sizes written.
    /// - Throws: ``ModelError/unwritable`` naming the file.
    @discardableResult
    public func save(to url: URL, options: SaveOptions = SaveOptions()) throws -> SaveReport {
        let goesExternal: Bool
        switch options.externalData {
        case .always: goesExternal = true
        case .never: goesExternal = false
        case .automatic: goesExternal = tensorByteCount > options.automaticLimit
        }
        let location = options.location ?? url.lastPathComponent + ".data"
        do {
            if goesExternal {
                let dataURL = try ExternalDataResolver.resolve(
                    location, in: url.deletingLastPathComponent(), modelFile: url.path, tensor: "(external data file)")
                var report = SaveReport(modelBytes: 0, externalLocation: location, externalBytes: 0)
                try AtomicFile.write(to: dataURL) { temporaryData in
                    let writer = try ExternalDataWriter(location: location, temporary: temporaryData, sizeThreshold: options.sizeThreshold)
                    let bytes: Data = try ONNXEncoder(external: writer).model(self).serializedBytes()
                    try writer.close()
                    try AtomicFile.write(bytes, to: url)
                    report.modelBytes = bytes.count
                    report.externalBytes = writer.byteCount
                }
                return report
            } else {
                let bytes = try serializedData()
                try AtomicFile.write(bytes, to: url)
                return SaveReport(modelBytes: bytes.count, externalLocation: nil, externalBytes: 0)
            }
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError.unwritable(file: url.path, reason: "\(error.localizedDescription)")
        }
    }
}
