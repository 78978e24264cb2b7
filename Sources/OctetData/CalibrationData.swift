import Foundation
import OctetGraph

/// Calibration data from the paths a user gives, in any supported layout, detected from the
/// files themselves. Sources are read in order and numbered as one sequence of samples.
public struct CalibrationData: Sendable {
    /// The sources, in the order given.
    public let sources: [CalibrationSource]

    /// Detects the layout of each path.
    /// - Parameters:
    ///   - paths: files and folders (`--calibration-data`).
    ///   - loaderScripts: `script.py[:function]` specifications (`--data-loader-script`).
    ///   - loaderTimeout: seconds a loader script may take for its first sample and between samples.
    /// - Throws: ``DataError`` naming a path that is missing or not in a known layout.
    public init(paths: [String], loaderScripts: [String] = [], loaderTimeout: Double = LoaderScriptSource.defaultTimeout) throws {
        var sources: [CalibrationSource] = []
        for path in paths { sources.append(try Self.detect(URL(fileURLWithPath: path))) }
        for script in loaderScripts { sources.append(try LoaderScriptSource(specification: script, timeout: loaderTimeout)) }
        guard !sources.isEmpty else { throw DataError.unrecognized(path: "(none)", reason: "no calibration data was given") }
        self.sources = sources
    }

    /// Samples known without reading the data, when every source knows its count.
    public var sampleCount: Int? {
        sources.reduce(Optional(0)) { total, source in total.flatMap { total in source.sampleCount.map { total + $0 } } }
    }

    /// Reads every sample once, in order.
    /// - Parameter body: receives each sample; return `false` to stop early.
    public func forEach(_ body: (RawSample) throws -> Bool) throws {
        var index = 0
        for source in sources {
            let stream = try source.stream(firstIndex: index)
            while let sample = try stream.next() {
                index = sample.index + 1
                if try !body(sample) { return }
            }
        }
    }

    static func detect(_ url: URL) throws -> CalibrationSource {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw DataError.unrecognized(path: url.path, reason: "no such file or folder")
        }
        if !isFolder.boolValue {
            switch url.pathExtension.lowercased() {
            case "npz": return try StackedSource(npz: url)
            case "npy": return try StackedSource(npyFolder: url.deletingLastPathComponent(), files: [url.lastPathComponent])
            case "json": return try PolygraphyJSONSource(files: [url])
            default:
                throw DataError.unrecognized(path: url.path, reason: "not a calibration data file (expected .npz, .npy, Polygraphy .json, or a folder)")
            }
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: url.path).filter { !$0.hasPrefix(".") } } catch {
            throw DataError.unrecognized(path: url.path, reason: "cannot list the folder: \(error.localizedDescription)")
        }
        let dataSets = names.filter { $0.hasPrefix("test_data_set_") }
        if !dataSets.isEmpty {
            let ordered = dataSets.sorted { (Int($0.dropFirst(14)) ?? 0) < (Int($1.dropFirst(14)) ?? 0) }
            return TestDataSetSource(root: url, folders: ordered.map { url.appendingPathComponent($0) })
        }
        if names.contains(where: { $0.hasPrefix("input_") && $0.hasSuffix(".pb") }) {
            return TestDataSetSource(root: url, folders: [url])
        }
        let kinds = Set(names.map { URL(fileURLWithPath: $0).pathExtension.lowercased() }).intersection(["npz", "npy", "json"])
        guard kinds.count == 1, let kind = kinds.first else {
            let reason = kinds.isEmpty
                ? "no calibration data in this folder (expected .npz files, <input>.npy files, Polygraphy .json files or test_data_set_N folders)"
                : "the folder mixes \(kinds.sorted().joined(separator: ", ")) files; keep one layout per folder"
            throw DataError.unrecognized(path: url.path, reason: reason)
        }
        let files = names.filter { $0.lowercased().hasSuffix("." + kind) }.sorted()
        switch kind {
        case "npz": return SampleFilesSource(folder: url, files: files.map { url.appendingPathComponent($0) })
        case "npy": return try StackedSource(npyFolder: url, files: files)
        default: return try PolygraphyJSONSource(files: files.map { url.appendingPathComponent($0) })
        }
    }
}
