/// The element type of a tensor, numbered as ONNX's `TensorProto.DataType`.
public enum DType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case string = 8
    case bool = 9
    case float16 = 10
    case float64 = 11
    case uint32 = 12
    case uint64 = 13
    case complex64 = 14
    case complex128 = 15
    case bfloat16 = 16
    case float8e4m3fn = 17
    case float8e4m3fnuz = 18
    case float8e5m2 = 19
    case float8e5m2fnuz = 20
    case uint4 = 21
    case int4 = 22
    case float4e2m1 = 23
    case uint2 = 25
    case int2 = 26

    /// The ONNX `TensorProto.DataType` code of this type.
    public var onnxCode: Int32 { rawValue }

    /// Creates the type for an ONNX `TensorProto.DataType` code, or `nil` for an unknown code.
    /// - Parameter onnxCode: the `data_type` / `elem_type` number from an ONNX file.
    public init?(onnxCode: Int32) { self.init(rawValue: onnxCode) }

    /// The name users know from NumPy and ONNX tools (`float32`, `int64`, `bool`, …).
    public var name: String {
        switch self {
        case .float32: "float32"
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .string: "string"
        case .bool: "bool"
        case .float16: "float16"
        case .float64: "float64"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .complex64: "complex64"
        case .complex128: "complex128"
        case .bfloat16: "bfloat16"
        case .float8e4m3fn: "float8e4m3fn"
        case .float8e4m3fnuz: "float8e4m3fnuz"
        case .float8e5m2: "float8e5m2"
        case .float8e5m2fnuz: "float8e5m2fnuz"
        case .uint4: "uint4"
        case .int4: "int4"
        case .float4e2m1: "float4e2m1"
        case .uint2: "uint2"
        case .int2: "int2"
        }
    }

    public var description: String { name }

    /// Creates the type named by `name` (as printed by ``name``), or `nil`.
    public init?(name: String) {
        guard let match = DType.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// Bits one element occupies in ONNX `raw_data` (4 for packed int4); 0 for strings.
    public var bitWidth: Int {
        switch self {
        case .string: 0
        case .uint2, .int2: 2
        case .uint4, .int4, .float4e2m1: 4
        case .uint8, .int8, .bool, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz: 8
        case .uint16, .int16, .float16, .bfloat16: 16
        case .float32, .int32, .uint32: 32
        case .float64, .int64, .uint64, .complex64: 64
        case .complex128: 128
        }
    }

    /// Bytes needed to store `count` elements contiguously (4-bit types pack two per byte,
    /// 2-bit types four, low bits first).
    /// - Parameter count: number of elements.
    public func byteCount(forElements count: Int) -> Int {
        // Whole bytes per element need no bit count (which would overflow 8× sooner).
        bitWidth % 8 == 0 ? count * (bitWidth / 8) : count / 8 * bitWidth + (count % 8 * bitWidth + 7) / 8
    }

    /// True for real floating-point types (float16/32/64, bfloat16, the float8 and float4 types).
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float64, .float16, .bfloat16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2,
            .float8e5m2fnuz, .float4e2m1:
            true
        default: false
        }
    }

    /// True for the integer types (signed and unsigned, including the 4- and 2-bit ones), not bool.
    public var isInteger: Bool {
        switch self {
        case .uint8, .int8, .uint16, .int16, .int32, .int64, .uint32, .uint64, .uint4, .int4, .uint2, .int2: true
        default: false
        }
    }

    /// Smallest and largest value of an integer type (as `Double`, so the 64-bit bounds are the
    /// nearest representable values inside the range); `nil` for other types.
    public var integerRange: (min: Double, max: Double)? {
        switch self {
        case .int8: (-128, 127)
        case .uint8: (0, 255)
        case .int16: (-32768, 32767)
        case .uint16: (0, 65535)
        case .int32: (-2_147_483_648, 2_147_483_647)
        case .uint32: (0, 4_294_967_295)
        case .int64: (-9.223372036854775808e18, 9.223372036854774784e18)
        case .uint64: (0, 1.8446744073709550e19)
        case .int4: (-8, 7)
        case .uint4: (0, 15)
        case .int2: (-2, 1)
        case .uint2: (0, 3)
        default: nil
        }
    }

    /// True for the complex types.
    public var isComplex: Bool { self == .complex64 || self == .complex128 }
}
