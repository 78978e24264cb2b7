import Testing
@testable import OctetTensor

/// Closed-form values of IEEE binary16, bfloat16 and the ONNX float8/float4 formats
/// (ONNX's Float8 specification and IEEE-754).
struct ReducedPrecisionTests {
    @Test(arguments: [
        (Float(1), UInt16(0x3C00)), (-2, 0xC000), (65504, 0x7BFF), (65520, 0x7C00), (.infinity, 0x7C00),
        (0.000060975552, 0x03FF), (0x1p-24, 0x0001), (0x1p-25, 0x0000), (0x1.8p-24, 0x0002), (-0.0, 0x8000),
        (0.1, 0x2E66), (1 + 0x1p-11, 0x3C00), (1 + 0x3p-11, 0x3C02),
    ])
    func halfFromFloat(value: Float, bits: UInt16) {
        #expect(ReducedPrecision.halfBits(from: value) == bits)
    }

    @Test func everyHalfRoundTrips() {
        for bits in UInt16.min...UInt16.max {
            let value = ReducedPrecision.float(fromHalf: bits)
            if value.isNaN {
                #expect(ReducedPrecision.halfBits(from: value) & 0x7C00 == 0x7C00)
                continue
            }
            #expect(ReducedPrecision.halfBits(from: value) == bits, "half \(bits) → \(value)")
        }
    }

    @Test(arguments: [(Float(1), UInt16(0x3F80)), (Float(-2), UInt16(0xC000)), (Float(1 + 0x1p-8), UInt16(0x3F80)),
                      (Float(1 + 0x3p-8), UInt16(0x3F82)), (Float(3.140625), UInt16(0x4049))])
    func bfloat16FromFloat(value: Float, bits: UInt16) {
        #expect(ReducedPrecision.bfloat16Bits(from: value) == bits)
        #expect(ReducedPrecision.float(fromBFloat16: bits) == Float(bitPattern: UInt32(bits) << 16))
    }

    @Test(arguments: [
        (DType.float8e4m3fn, UInt8(0x7E), Float(448)), (.float8e4m3fnuz, 0x7F, 240), (.float8e5m2, 0x7B, 57344),
        (.float8e5m2fnuz, 0x7F, 57344), (.float4e2m1, 0x7, 6),
    ])
    func largestFiniteValues(dtype: DType, code: UInt8, value: Float) throws {
        let format = try #require(ReducedPrecision.miniFloat(dtype))
        #expect(format.decode(code) == value)
        #expect(format.encode(value * 4) == code, "saturates")
        #expect(format.encode(.infinity) == code, "saturates infinity")
    }

    @Test func float8SpecialsAndRounding() throws {
        let e4m3 = try #require(ReducedPrecision.miniFloat(.float8e4m3fn))
        #expect(e4m3.decode(0x7F).isNaN && e4m3.decode(0xFF).isNaN)
        #expect(e4m3.decode(0x38) == 1 && e4m3.decode(0x01) == 0x1p-9)
        #expect(e4m3.encode(1.0625) == 0x38, "tie goes to even mantissa")
        #expect(e4m3.encode(1.1875) == 0x3A, "tie goes to even mantissa")
        #expect(e4m3.encode(-1) == 0xB8)
        let e5m2 = try #require(ReducedPrecision.miniFloat(.float8e5m2))
        #expect(e5m2.decode(0x7C) == .infinity && e5m2.decode(0x7D).isNaN)
        let fnuz = try #require(ReducedPrecision.miniFloat(.float8e4m3fnuz))
        #expect(fnuz.decode(0x80).isNaN && fnuz.encode(-0.0) == 0x00)
        let fp4 = try #require(ReducedPrecision.miniFloat(.float4e2m1))
        #expect((0..<8).map { fp4.decode(UInt8($0)) } == [0, 0.5, 1, 1.5, 2, 3, 4, 6])
        #expect(fp4.decode(0xF) == -6)
    }

    @Test(arguments: [DType.float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz])
    func everyFiniteFloat8RoundTrips(dtype: DType) throws {
        let format = try #require(ReducedPrecision.miniFloat(dtype))
        for code in UInt8.min...UInt8.max where format.decode(code).isFinite {
            #expect(format.encode(format.decode(code)) == code, "\(dtype) code \(code)")
        }
    }
}
