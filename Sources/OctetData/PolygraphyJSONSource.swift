import Foundation
import OctetGraph

/// Polygraphy `--load-inputs` files: a JSON list of feed dicts whose values are
/// `{"array": base64(npy bytes), "polygraphy_class": "ndarray"}` (older files use the key
/// `polygraphy_serialized_json_type`, or latin-1 text instead of base64). Several files are
/// concatenated in the order given. Each file is parsed whole when its samples are read.
public struct PolygraphyJSONSource: CalibrationSource {
    public let format = "Polygraphy JSON"
    public let paths: [String]
    let files: [URL]
    /// Samples per file, counted when the source is opened.
    let counts: [Int]

    /// Opens `files` and counts their samples.
    public init(files: [URL]) throws {
        self.files = files
        paths = files.map(\.path)
        counts = try files.map { try Self.feeds(in: $0).count }
    }

    public var sampleCount: Int? { counts.reduce(0, +) }

    /// Whether `url` looks like a Polygraphy inputs file (a JSON list of feed dicts).
    static func recognizes(_ url: URL) -> Bool { url.pathExtension.lowercased() == "json" }

    static func feeds(in url: URL) throws -> [[String: Any]] {
        try InputFileError.requireRegular(url)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DataError.unrecognized(path: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
            throw DataError.malformed(file: url.path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        if let list = parsed as? [[String: Any]] { return list }
        if let single = parsed as? [String: Any], single.values.allSatisfy({ $0 is [String: Any] }) { return [single] }
        throw DataError.malformed(file: url.path, reason: "expected a JSON list of feed dicts {input name: array}, as Polygraphy's --save-inputs writes")
    }

    /// Decodes one serialized array.
    static func array(_ value: Any, name: String, file: String) throws -> Tensor {
        guard let object = value as? [String: Any] else {
            throw DataError.malformed(file: file, reason: "input '\(name)': expected an encoded array object")
        }
        let marker = object["polygraphy_class"] ?? object["polygraphy_serialized_json_type"]
        guard (marker as? String) == "ndarray", let text = object["array"] as? String else {
            throw DataError.malformed(file: file, reason: "input '\(name)': not a Polygraphy ndarray (missing 'array' or its type marker)")
        }
        let bytes = Data(base64Encoded: text) ?? text.data(using: .isoLatin1)
        guard let bytes else { throw DataError.malformed(file: file, reason: "input '\(name)': the array is neither base64 nor latin-1 text") }
        let source = "\(file):\(name)"
        if bytes.starts(with: [0x50, 0x4B]) {
            // Older files embed an .npz archive; its first array is the value.
            let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("octet-\(UUID().uuidString).npz")
            try bytes.write(to: temporary)
            defer { try? FileManager.default.removeItem(at: temporary) }
            guard let first = try NPZArchive.readAll(temporary).first else {
                throw DataError.malformed(file: file, reason: "input '\(name)': the embedded archive holds no arrays")
            }
            return first.tensor
        }
        return try NPYFile.decode(bytes, file: source)
    }

    public func stream(firstIndex: Int) throws -> SampleStream { Stream(files: files, index: firstIndex) }

    /// Parses one file at a time and hands out its feeds in order.
    final class Stream: SampleStream {
        private var pending: [URL]
        private var current: (url: URL, feeds: [[String: Any]], position: Int)?
        private var index: Int

        init(files: [URL], index: Int) {
            pending = files
            self.index = index
        }

        func next() throws -> RawSample? {
            while current.map({ $0.position >= $0.feeds.count }) ?? true {
                guard !pending.isEmpty else { return nil }
                let url = pending.removeFirst()
                current = (url, try PolygraphyJSONSource.feeds(in: url), 0)
            }
            guard let (url, feeds, position) = current else { return nil }
            current?.position += 1
            var values: [String: Tensor] = [:]
            var files: [String: String] = [:]
            for (name, value) in feeds[position] {
                values[name] = try PolygraphyJSONSource.array(value, name: name, file: url.path)
                files[name] = url.path
            }
            defer { index += 1 }
            return RawSample(values: values, files: files, index: index)
        }
    }
}
