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
    /// The paths the sample was read from, named when it holds no array at all.
    public var origin: [String]

    /// Creates a sample.
    public init(values: [String: Tensor], files: [String: String], index: Int, origin: [String] = []) {
        self.values = values
        self.files = files
        self.index = index
        self.origin = origin
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

/// Streams over per-sample loaders (files, folders, JSON entries, rows of stacked arrays),
/// made one at a time: a file of 10^12 empty rows costs nothing until its rows are read.
final class ListStream: SampleStream {
    typealias Loaded = (values: [String: Tensor], files: [String: String])
    private let count: Int
    private let loader: (Int) throws -> Loaded
    private var position = 0
    private let firstIndex: Int

    init(firstIndex: Int, count: Int, loader: @escaping (Int) throws -> Loaded) {
        self.firstIndex = firstIndex
        self.count = count
        self.loader = loader
    }

    convenience init(firstIndex: Int, loaders: [() throws -> Loaded]) {
        self.init(firstIndex: firstIndex, count: loaders.count) { try loaders[$0]() }
    }

    func next() throws -> RawSample? {
        guard position < count else { return nil }
        defer { position += 1 }
        let (values, files) = try loader(position)
        return RawSample(values: values, files: files, index: firstIndex + position)
    }
}
