import Foundation

/// Errors loading, validating or saving a model; each names the file and the tensor, node or
/// value concerned.
public enum ModelError: LocalizedError, Equatable {
    /// The file cannot be read.
    case unreadable(file: String, reason: String)
    /// The bytes are not an ONNX model.
    case notONNX(file: String, reason: String)
    /// A tensor whose stored data does not fit its type and shape.
    case tensorData(file: String, tensor: String, reason: String)
    /// A tensor whose external data cannot be used.
    case externalData(file: String, tensor: String, location: String, reason: String)
    /// Structural problems found by validation, all at once.
    case invalidGraph(file: String, problems: [String])
    /// The model cannot be written.
    case unwritable(file: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .unreadable(file, reason): "\(file): cannot read the model: \(reason)"
        case let .notONNX(file, reason): "\(file): not a valid ONNX model: \(reason)"
        case let .tensorData(file, tensor, reason): "\(file): tensor '\(tensor)': \(reason)"
        case let .externalData(file, tensor, location, reason):
            "\(file): tensor '\(tensor)': external data '\(location)': \(reason)"
        case let .invalidGraph(file, problems):
            "\(file): the model's graph is invalid (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n"
                + problems.map { "  - \($0)" }.joined(separator: "\n")
        case let .unwritable(file, reason): "\(file): cannot write the model: \(reason)"
        }
    }
}
