import Foundation
import Testing
@testable import OctetQuant

/// Range algorithms, INT8 arithmetic and the TensorRT cache against the closed-form test vectors
/// of SPEC §2, §4 and §5 (pytorch-quantization's algorithms reproduced in NumPy).
struct RangeAlgorithmTests {
    /// Vector C: edges k/512 over [0, 4]; counts floor(1e6·exp(−k/60)) plus 3 at bin 2000.
    static let vectorCCounts: [Int64] = {
        var counts = (0..<2048).map { Int64((1e6 * Foundation.exp(-Double($0) / 60)).rounded(.down)) }
        counts[2000] += 3
        return counts
    }()

    /// Vector A: counts floor(1e5·exp(−½((k + 0.5)/512)²)).
    static let vectorACounts: [Int64] = (0..<2048).map { k in
        let x = (Double(k) + 0.5) / 512
        return Int64((1e5 * Foundation.exp(-0.5 * x * x)).rounded(.down))
    }

    // Bins of width 1/512 = 2^-9.
    static let vectorC = try! AbsHistogram(exponent: -9, counts: vectorCCounts)
    static let vectorA = try! AbsHistogram(exponent: -9, counts: vectorACounts)

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

    @Test func histogramWidthIsAPowerOfTwoCoveringTheMaximum() throws {
        var first = AbsHistogram()
        [Float](arrayLiteral: 0, 0).withUnsafeBufferPointer { first.add($0) }
        #expect(first.binWidth == nil && first.counts.first == 2 && first.total == 2)
        [Float](arrayLiteral: -2, 1, .nan, .infinity).withUnsafeBufferPointer { first.add($0) }
        // max 2 < 2048 · 2^-9 = 4: bins of width 2^-9.
        #expect(first.exponent == -9 && first.counts.count == 2048 && first.nonFinite == 2)
        #expect(first.counts[0] == 2 && first.counts[512] == 1 && first.counts[1024] == 1)
        [Float](arrayLiteral: 3, 5).withUnsafeBufferPointer { first.add($0) }
        // max 5 needs width 2^-8: pairs of bins are added.
        #expect(first.exponent == -8 && first.counts[0] == 2 && first.counts[256] == 1 && first.counts[512] == 1)
        #expect(first.counts[768] == 1 && first.counts[1280] == 1 && first.maxAbs == 5 && first.total == 6)
        var direct = AbsHistogram()
        [Float](arrayLiteral: 5, 3, 0, 1, -2, .infinity, 0, .nan).withUnsafeBufferPointer { direct.add($0) }
        #expect(direct == first, "the counts depend on the values only, not on their order or grouping")
        var merged = AbsHistogram()
        var other = AbsHistogram()
        [Float](arrayLiteral: 0.001, 0.5).withUnsafeBufferPointer { other.add($0) }
        merged.merge(other)
        merged.merge(first)
        var all = AbsHistogram()
        [Float](arrayLiteral: 5, 3, 0, 1, -2, .infinity, 0, .nan, 0.001, 0.5).withUnsafeBufferPointer { all.add($0) }
        #expect(merged == all, "a fine histogram merges exactly onto a coarse one")
        #expect(try RangeAlgorithm.minmax.amax(first) == 5)
    }

    @Test func exponentCoversTheMaximum() {
        #expect(AbsHistogram.exponent(covering: 4) == -8)
        #expect(AbsHistogram.exponent(covering: 4.001) == -8)
        #expect(AbsHistogram.exponent(covering: 3.99) == -9)
        #expect(AbsHistogram.exponent(covering: .leastNonzeroMagnitude) == -159)
        #expect(AbsHistogram.exponent(covering: .greatestFiniteMagnitude) == 117)
        var extremes = AbsHistogram()
        [Float](arrayLiteral: .leastNonzeroMagnitude, .greatestFiniteMagnitude).withUnsafeBufferPointer { extremes.add($0) }
        #expect(extremes.counts[0] == 1 && extremes.counts[2047] == 1)
        var tiny = AbsHistogram()
        [Float](arrayLiteral: .leastNonzeroMagnitude, 0).withUnsafeBufferPointer { tiny.add($0) }
        #expect(tiny.exponent == -159 && tiny.counts[0] == 1 && tiny.counts[1024] == 1)
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
