import Foundation
import Testing
@testable import OctetTensor

/// Conversions follow NumPy's `astype` for integers (wrap) and ONNX `Cast` saturation for
/// floats to narrow types.
struct TensorConversionTests {
    @Test func floatToIntTruncatesAndSaturates() throws {
        let source = Tensor(shape: [6], scalars: [Float(1.9), -1.9, 300, -300, .nan, 126.5])
        let converted = try source.converted(to: .int8)
        #expect(converted.scalars(as: Int8.self) == [1, -1, 127, -128, 0, 126])
        #expect(try source.converted(to: .uint8).scalars(as: UInt8.self) == [1, 0, 255, 0, 0, 126])
    }

    @Test func integersWrapLikeNumPy() throws {
        let source = Tensor(shape: [3], scalars: [Int64(300), -1, 1 << 40])
        #expect(try source.converted(to: .int8).scalars(as: Int8.self) == [44, -1, 0])
        #expect(try source.converted(to: .uint16).scalars(as: UInt16.self) == [300, 65535, 0])
        #expect(try source.converted(to: .int32).scalars(as: Int32.self) == [300, -1, 0])
    }

    @Test func wideningKeepsValues() throws {
        let ids = Tensor(shape: [2, 2], scalars: [Int32(-7), 0, 2_000_000_000, 5])
        let wide = try ids.converted(to: .int64)
        #expect(wide.shape == [2, 2])
        #expect(wide.scalars(as: Int64.self) == [-7, 0, 2_000_000_000, 5])
        let doubles = Tensor(shape: [2], scalars: [0.1, -3.5])
        #expect(try doubles.converted(to: .float32).scalars(as: Float.self) == [Float(0.1), -3.5])
    }

    @Test func unsignedValuesKeepTheirValue() throws {
        // Regression: `map(Double.init)` on UInt64 picks `init(bitPattern:)`.
        let bytes = Tensor(shape: [3], scalars: [UInt8(0), 128, 255])
        #expect(try bytes.doubles() == [0, 128, 255])
        #expect(try bytes.converted(to: .float32).scalars(as: Float.self) == [0, 128, 255])
        let wide = Tensor(shape: [2], scalars: [UInt64(3), 1 << 40])
        #expect(try wide.converted(to: .float64).scalars(as: Double.self) == [3, 1_099_511_627_776])
    }

    @Test func boolConversions() throws {
        let values = Tensor(shape: [4], scalars: [Float(0), -0.0, 0.5, .nan])
        #expect(try values.converted(to: .bool).scalars(as: Bool.self) == [false, false, true, false])
        let flags = Tensor(shape: [2], scalars: [true, false])
        #expect(try flags.converted(to: .float32).scalars(as: Float.self) == [1, 0])
    }

    @Test func halfAndPackedInt4() throws {
        let values = Tensor(shape: [3], scalars: [Float(1), -2.5, 7.9])
        let half = try values.converted(to: .float16)
        #expect(half.byteCount == 6)
        #expect(try half.converted(to: .float32).scalars(as: Float.self) == [1, -2.5, 7.8984375])
        let int4 = try Tensor(shape: [3], scalars: [Int32(-8), 7, -1]).converted(to: .int4)
        #expect(int4.byteCount == 2)
        #expect(int4.data == Data([0x78, 0x0F]), "low nibble first")
        #expect(try int4.doubles() == [-8, 7, -1])
    }

    @Test func packedTwoBitIntegers() throws {
        let int2 = try Tensor(shape: [5], scalars: [Int32(-2), -1, 0, 1, 2]).converted(to: .int2)
        #expect(int2.byteCount == 2)
        // Four per byte, low bits first: -2 → 10, -1 → 11, 0 → 00, 1 → 01; then 2 wraps to 10.
        #expect(int2.data == Data([0b01_00_11_10, 0b10]))
        #expect(try int2.doubles() == [-2, -1, 0, 1, -2])
        let uint2 = try Tensor(shape: [3], scalars: [UInt8(3), 1, 4]).converted(to: .uint2)
        #expect(try uint2.doubles() == [3, 1, 0])
    }

    @Test func meaninglessConversionsThrow() {
        let complex = Tensor(zeros: .complex64, shape: [2])
        #expect(throws: TensorError.unsupportedConversion(from: .complex64, to: .float32)) { try complex.converted(to: .float32) }
        let strings = Tensor(shape: [1], strings: [Data("a".utf8)])
        #expect(throws: TensorError.self) { try strings.converted(to: .float32) }
    }

    @Test func realToComplexAddsZeroImaginary() throws {
        let converted = try Tensor(shape: [2], scalars: [Float(1.5), -2]).converted(to: .complex128)
        converted.withUnsafeBytes { raw in
            #expect(Array(raw.bindMemory(to: Double.self)) == [1.5, 0, -2, 0])
        }
    }

    @Test func byteCountMustMatchShape() {
        #expect(throws: TensorError.byteCountMismatch(dtype: .float32, shape: [2, 2], expected: 16, actual: 12)) {
            try Tensor(dtype: .float32, shape: [2, 2], bytes: [UInt8](repeating: 0, count: 12))
        }
    }

    @Test func copiesDoNotShareWrites() {
        let original = Tensor(shape: [2], scalars: [Float(1), 2])
        var copy = original
        copy.withUnsafeMutableBytes { $0.storeBytes(of: Float(9), as: Float.self) }
        #expect(original.scalars(as: Float.self) == [1, 2])
        #expect(copy.scalars(as: Float.self) == [9, 2])
    }
}
