import Foundation
import OctetGraph

/// One sample as a source stores it: arrays by input name, with where they came from.
public struct RawSample: Sendable {
    /// Arrays by input name, as stored (with or without the batch axis).
    public var values: [String: Tensor]
    /// The file each array was read from (a path, or `archive.npz:key.npy`).
    public var files: [String: String]
    /// Index of the sample within its data set (0-based, across all sources).
    public var index: Int

    /// Creates a sample.
    public init(values: [String: Tensor], files: [String: String], index: Int) {
        self.values = values
        self.files = files
        self.index = index
    }
}

/// Reads samples one at a time.
public protocol SampleStream: AnyObject {
    /// The next sample, or `nil` at the end.
    func next() throws -> RawSample?
}

/// A calibration data source in one of the supported layouts.
public protocol CalibrationSource: Sendable {
    /// The layout, for reports (`stacked .npz`, `Polygraphy JSON`, …).
    var format: String { get }
    /// The files or folders it reads.
    var paths: [String] { get }
    /// Number of samples, when known without reading the data.
    var sampleCount: Int? { get }
    /// Starts reading; samples are numbered from `firstIndex`.
    func stream(firstIndex: Int) throws -> SampleStream
}

/// Errors reading calibration data; each names the file and, where it applies, the input.
public enum DataError: LocalizedError, Equatable {
    /// A path that is missing or of a layout Octet does not recognize.
    case unrecognized(path: String, reason: String)
    /// A file whose contents are not what its layout promises.
    case malformed(file: String, reason: String)
    /// A loader script that failed or could not start.
    case loaderScript(script: String, reason: String)
    /// Problems found by validation against the model, all at once.
    case invalid(problems: [String])

    public var errorDescription: String? {
        switch self {
        case let .unrecognized(path, reason): "\(path): \(reason)"
        case let .malformed(file, reason): "\(file): \(reason)"
        case let .loaderScript(script, reason): "data loader script \(script): \(reason)"
        case let .invalid(problems):
            "the data does not fit the model's inputs:\n"
                + problems.map { "  - \($0)" }.joined(separator: "\n")
        }
    }
}

/// Streams over a fixed list of per-sample loaders (files, folders, JSON entries).
final class ListStream: SampleStream {
    private let loaders: [() throws -> (values: [String: Tensor], files: [String: String])]
    private var position = 0
    private let firstIndex: Int

    init(firstIndex: Int, loaders: [() throws -> (values: [String: Tensor], files: [String: String])]) {
        self.firstIndex = firstIndex
        self.loaders = loaders
    }

    func next() throws -> RawSample? {
        guard position < loaders.count else { return nil }
        defer { position += 1 }
        let (values, files) = try loaders[position]()
        return RawSample(values: values, files: files, index: firstIndex + position)
    }
}
