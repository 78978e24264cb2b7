import Foundation
import Testing
@testable import OctetQuant

/// Range algorithms, INT8 arithmetic and the TensorRT cache against the closed-form test vectors
/// of SPEC §2, §4 and §5 (pytorch-quantization's algorithms reproduced in NumPy).
struct RangeAlgorithmTests {
    /// Vector C: edges k/512 over [0, 4]; counts floor(1e6·exp(−k/60)) plus 3 at bin 2000.
    static let vectorC: AbsHistogram = {
        var counts = (0..<2048).map { (1e6 * Foundation.exp(-Double($0) / 60)).rounded(.down) }
        counts[2000] += 3
        return AbsHistogram(binWidth: 1.0 / 512, counts: counts)
    }()

    /// Vector A: counts floor(1e5·exp(−½((k + 0.5)/512)²)).
    static let vectorA = AbsHistogram(binWidth: 1.0 / 512, counts: (0..<2048).map { k in
        let x = (Double(k) + 0.5) / 512
        return (1e5 * Foundation.exp(-0.5 * x * x)).rounded(.down)
    })

    @Test func vectorC() throws {
        #expect(try RangeAlgorithm.entropy.amax(Self.vectorC) == 1.25)
        #expect(CalibrationCache.hex(Int8Quantization.scale(amax: 1.25)) == "3c214285")
        #expect(try RangeAlgorithm.percentile(99.99).amax(Self.vectorC) == 1.07421875)
        #expect(try RangeAlgorithm.percentile(99.999).amax(Self.vectorC) == 1.326171875)
        #expect(abs(try RangeAlgorithm.mse.amax(Self.vectorC) - 1.1162109) < 1e-6)
    }

    @Test func vectorA() throws {
        #expect(try RangeAlgorithm.entropy.amax(Self.vectorA) == 4.0)
        #expect(CalibrationCache.hex(Int8Quantization.scale(amax: 4.0)) == "3d010204")
        #expect(try RangeAlgorithm.percentile(99.99).amax(Self.vectorA) == 3.767578125)
        #expect(try RangeAlgorithm.percentile(99.999).amax(Self.vectorA) == 3.962890625)
        #expect(abs(try RangeAlgorithm.mse.amax(Self.vectorA) - 3.6982422) < 1e-6)
    }

    @Test func roundHalfEvenAndClamping() {
        let inputs: [Float] = [0.5, 1.5, 2.5, -0.5, -1.5, 127.6, -128.6, -200]
        #expect(inputs.map { Int8Quantization.quantize($0, scale: 1) } == [0, 2, 2, 0, -2, 127, -128, -128])
    }

    @Test func histogramGrowsWithFixedWidthAndMerges() throws {
        var first = AbsHistogram()
        [Float](arrayLiteral: 0, 0).withUnsafeBufferPointer { first.add($0) }
        #expect(first.binWidth == nil && first.pendingZeros == 2)
        [Float](arrayLiteral: -2, 1, .nan, .infinity).withUnsafeBufferPointer { first.add($0) }
        #expect(first.binWidth == 2.0 / 2048 && first.counts.count == 2048 && first.nonFinite == 2)
        #expect(first.counts[0] == 2 && first.counts[1024] == 1 && first.counts[2047] == 1, "max |x| falls in the last bin")
        [Float](arrayLiteral: 3).withUnsafeBufferPointer { first.add($0) }
        #expect(first.counts.count == 3072 && first.counts[3071] == 1 && first.maxAbs == 3)
        var shard = AbsHistogram(binWidth: 2.0 / 2048, counts: [1, 1])
        try shard.merge(first)
        #expect(shard.counts.count == 3072 && shard.counts[0] == 3 && shard.total == 7)
        #expect(throws: StatisticsError.widthMismatch(2.0 / 2048, 0.5)) {
            var other = first
            try other.merge(AbsHistogram(binWidth: 0.5, counts: [1]))
        }
        #expect(try RangeAlgorithm.minmax.amax(first) == 3)
    }

    @Test(arguments: [(1.0, "3c010204"), (2.0, "3c810204"), (6.0, "3d418306"), (128.0, "3f810204")])
    func cacheHexRoundTrips(amax: Double, hex: String) throws {
        #expect(CalibrationCache.hex(Int8Quantization.scale(amax: amax)) == hex)
        let parsed = try CalibrationCache.parse("TRT-100300-EntropyCalibration2\nx: \(hex.uppercased())\n", file: "c")
        #expect(parsed.entries == [CalibrationCache.Entry(name: "x", scale: Int8Quantization.scale(amax: amax))])
    }

    @Test func cacheFormat() throws {
        #expect(CalibrationCache.header(major: 10, minor: 3, patch: 0) == "TRT-100300-EntropyCalibration2")
        #expect(CalibrationCache.header(major: 8, minor: 6, patch: 0, algorithm: "MinMaxCalibration") == "TRT-8600-MinMaxCalibration")
        let text = "TRT-8600-EntropyCalibration2\r\nInput: 3c010204\r\ninput_1:0: 3c010a14\r\n/model.0/act/Mul_output_0: 3e6c9314\r\nres1_conv_out_0: 3da0928d\r\nshort: 1\r\n"
        let cache = try CalibrationCache.parse(text, file: "model.calib")
        #expect(cache.header == "TRT-8600-EntropyCalibration2")
        #expect(cache.entries.map(\.name) == ["Input", "input_1:0", "/model.0/act/Mul_output_0", "res1_conv_out_0", "short"])
        #expect(abs(Double(cache.entries[3].scale) * 127 - 9.9574) < 1e-3)
        #expect(cache.entries[4].scale.bitPattern == 1)
        #expect(try CalibrationCache.parse(cache.text, file: "again") == cache)
        #expect(cache.text.hasSuffix("res1_conv_out_0: 3da0928d\nshort: 00000001\n"))
        #expect(throws: CacheError.malformed(file: "bad", line: 2, reason: "'xyz' is not 1–8 hex digits")) {
            try CalibrationCache.parse("TRT-1-E\nname: xyz", file: "bad")
        }
        #expect(throws: CacheError.self) { try CalibrationCache.parse("name: 3c010204", file: "bad") }
    }
}
