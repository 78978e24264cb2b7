import Foundation

/// A constant tensor in a graph: an initializer, or the value of a `Constant` node or a tensor
/// attribute.
public struct GraphTensor: Sendable {
    /// Value name (may be empty for attribute tensors).
    public var name: String
    /// The data.
    public var tensor: Tensor
    /// Free-form documentation.
    public var docString: String
    /// Where the data was read from, when it came from an external data file.
    public var externalSource: ExternalDataReference?
    /// Fields Octet does not model.
    public var preserved: PreservedFields

    /// Creates a constant.
    public init(name: String, tensor: Tensor, docString: String = "", externalSource: ExternalDataReference? = nil,
                preserved: PreservedFields = PreservedFields()) {
        self.name = name
        self.tensor = tensor
        self.docString = docString
        self.externalSource = externalSource
        self.preserved = preserved
    }
}

/// The location of a tensor's bytes in an external data file.
public struct ExternalDataReference: Sendable, Equatable, Codable {
    /// File path relative to the model's folder, as written in the model.
    public var location: String
    /// Byte offset of the data in that file.
    public var offset: Int
    /// Byte count.
    public var length: Int
}
