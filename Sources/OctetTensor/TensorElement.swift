/// A Swift scalar type that is stored unchanged as one tensor element.
public protocol TensorElement: Sendable {
    /// The tensor type whose elements are this Swift type.
    static var dtype: DType { get }
}

extension Float: TensorElement { public static var dtype: DType { .float32 } }
extension Double: TensorElement { public static var dtype: DType { .float64 } }
extension Int8: TensorElement { public static var dtype: DType { .int8 } }
extension UInt8: TensorElement { public static var dtype: DType { .uint8 } }
extension Int16: TensorElement { public static var dtype: DType { .int16 } }
extension UInt16: TensorElement { public static var dtype: DType { .uint16 } }
extension Int32: TensorElement { public static var dtype: DType { .int32 } }
extension UInt32: TensorElement { public static var dtype: DType { .uint32 } }
extension Int64: TensorElement { public static var dtype: DType { .int64 } }
extension UInt64: TensorElement { public static var dtype: DType { .uint64 } }
extension Bool: TensorElement { public static var dtype: DType { .bool } }
