/// A named value with its type, as listed in a graph's inputs, outputs and `value_info`.
public struct ValueInfo: Sendable, Equatable {
    /// Value name.
    public var name: String
    /// Declared type; `.unknown` when the file gives none.
    public var type: ValueType
    /// Free-form documentation.
    public var docString: String
    /// Fields Octet does not model.
    public var preserved: PreservedFields

    /// Creates a value description.
    public init(name: String, type: ValueType, docString: String = "", preserved: PreservedFields = PreservedFields()) {
        self.name = name
        self.type = type
        self.docString = docString
        self.preserved = preserved
    }

    /// A tensor value.
    /// - Parameters:
    ///   - name: value name.
    ///   - dtype: element type.
    ///   - shape: dimensions, or `nil` when the rank is unknown.
    public static func tensor(_ name: String, _ dtype: DType, _ shape: [Dim]?) -> ValueInfo {
        ValueInfo(name: name, type: .tensor(elementType: dtype.onnxCode, shape: shape))
    }
}

/// The type of a graph value.
public indirect enum ValueType: Sendable, Equatable {
    /// A tensor; `elementType` is the ONNX code (0 when unknown), `shape` is `nil` when the rank
    /// is unknown.
    case tensor(elementType: Int32, shape: [Dim]?)
    /// A sequence of values of the element type.
    case sequence(ValueType)
    /// An optional value of the element type.
    case optional(ValueType)
    /// A map, sparse tensor or opaque type, kept as serialized `TypeProto` bytes.
    case other(PreservedFields)
    /// No type given.
    case unknown

    /// The element type of a tensor type, when it is one Octet knows.
    public var dtype: DType? {
        if case .tensor(let code, _) = self { return DType(onnxCode: code) }
        return nil
    }

    /// The dimensions of a tensor type of known rank.
    public var shape: [Dim]? {
        if case .tensor(_, let shape) = self { return shape }
        return nil
    }

    /// A short text such as `float32[batch, 3, 224, 224]`, `seq(float32[?])`.
    public var summary: String {
        switch self {
        case let .tensor(code, shape):
            let element = DType(onnxCode: code)?.name ?? (code == 0 ? "?" : "type\(code)")
            guard let shape else { return "\(element)[…]" }
            return "\(element)[\(shape.map(\.description).joined(separator: ", "))]"
        case .sequence(let element): return "seq(\(element.summary))"
        case .optional(let element): return "optional(\(element.summary))"
        case .other: return "other"
        case .unknown: return "?"
        }
    }
}

/// One dimension of a declared shape. In JSON: a number, a name, or null.
public enum Dim: Sendable, Equatable, Hashable, CustomStringConvertible, Codable {
    /// A fixed size.
    case value(Int)
    /// A named symbolic size (`batch`, `sequence_length`).
    case param(String)
    /// A size the file leaves open.
    case unknown

    public var description: String {
        switch self {
        case .value(let size): "\(size)"
        case .param(let name): name
        case .unknown: "?"
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .value(let size): try container.encode(size)
        case .param(let name): try container.encode(name)
        case .unknown: try container.encodeNil()
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .unknown
        } else if let size = try? container.decode(Int.self) {
            self = .value(size)
        } else {
            self = .param(try container.decode(String.self))
        }
    }

    /// The fixed size, if any.
    public var fixedSize: Int? {
        if case .value(let size) = self { return size }
        return nil
    }
}
