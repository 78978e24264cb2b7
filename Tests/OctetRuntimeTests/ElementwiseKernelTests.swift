import COctetKernels
import Foundation
import OctetGraph
import Testing
import _OctetTestSupport
@testable import OctetRuntime

/// The vectorized float32 kernels against libm in double precision, on a dense grid, at every
/// instruction-set level this CPU has (the portable path forced too).
@Suite(.serialized) struct ElementwiseKernelTests {
    static let levels: [Int] = Array(0...Int(octet_kernels_level()))
    static let grid: [Float] = stride(from: -12.0, through: 12.0, by: 1.0 / 512).map { Float($0) }

    static func unary(_ op: Int32, _ x: [Float], level: Int32, alpha: Float = 0, beta: Float = 0) -> [Float] {
        octet_kernels_set_level(level)
        defer { octet_kernels_set_level(-1) }
        var y = [Float](repeating: .nan, count: x.count)
        x.withUnsafeBufferPointer { source in
            y.withUnsafeMutableBufferPointer { target in
                octet_unary_f32(op, source.baseAddress, target.baseAddress, x.count, alpha, beta)
            }
        }
        return y
    }

    @Test(arguments: levels) func sigmoidWithinThreeUlpOfLibm(level: Int) {
        let y = Self.unary(Int32(OCTET_UNARY_SIGMOID), Self.grid + [-100, 100, .infinity, -.infinity], level: Int32(level))
        for (x, got) in zip(Self.grid, y) {
            let exact = 1 / (1 + Foundation.exp(-Double(x)))
            #expect(abs(Double(got) - exact) <= 3 * Double(Float(exact).ulp), "sigmoid(\(x)) = \(got), libm \(exact)")
        }
        // sigmoid(-100) ≈ 4e-44 and sigmoid(-inf) = 0: below 1e-30 (the exp argument is clamped);
        // sigmoid(100) and sigmoid(inf) round to 1.
        let extremes = Array(y.suffix(4))
        #expect(extremes[0] >= 0 && extremes[0] < 1e-30 && extremes[1] == 1 && extremes[2] == 1 && extremes[3] >= 0 && extremes[3] < 1e-30)
        #expect(Self.unary(Int32(OCTET_UNARY_SIGMOID), [.nan], level: Int32(level))[0].isNaN)
    }

    @Test(arguments: levels) func tanhWithinSixUlpOfLibm(level: Int) {
        let x = Self.grid + [1e-6, -3e-5, 1e-3, 0.01, -20, 40, .infinity, -.infinity]
        let y = Self.unary(Int32(OCTET_UNARY_TANH), x, level: Int32(level))
        var worstUlps = 0.0
        for (value, got) in zip(x, y) {
            let exact = Foundation.tanh(Double(value))
            worstUlps = max(worstUlps, abs(Double(got) - exact) / Double(Float(exact).ulp))
        }
        #expect(worstUlps <= 6, "largest tanh error \(worstUlps) ulp")
        #expect(Self.unary(Int32(OCTET_UNARY_TANH), [.nan], level: Int32(level))[0].isNaN)
    }

    @Test(arguments: levels) func erfWithin4e7OfLibm(level: Int) {
        let y = Self.unary(Int32(OCTET_UNARY_ERF), Self.grid, level: Int32(level))
        var worst = 0.0
        for (x, got) in zip(Self.grid, y) { worst = max(worst, abs(Double(got) - Foundation.erf(Double(x)))) }
        #expect(worst <= 4e-7, "largest |erf error| \(worst) (about 5 float ulps near ±1)")
        // Relative accuracy near 0, where GELU's erf(x / √2) matters for small activations.
        let small: [Float] = [1e-6, -3e-5, 1e-3, 0.01]
        for (x, got) in zip(small, Self.unary(Int32(OCTET_UNARY_ERF), small, level: Int32(level))) {
            #expect(abs(Double(got) / Foundation.erf(Double(x)) - 1) < 1e-6, "erf(\(x))")
        }
    }

    @Test(arguments: levels) func clampedActivationsAreExact(level: Int) {
        let x: [Float] = [-7, -3, -2.5, -0.5, -0, 0, 0.25, 2.5, 3, 7, .infinity, -.infinity]
        #expect(Self.unary(Int32(OCTET_UNARY_RELU), x, level: Int32(level)) == x.map { $0 < 0 ? 0 : $0 })
        #expect(Self.unary(Int32(OCTET_UNARY_RELU), [.nan], level: Int32(level))[0].isNaN)
        #expect(Self.unary(Int32(OCTET_UNARY_HARD_SIGMOID), x, level: Int32(level), alpha: 0.2, beta: 0.5)
            == x.map { Swift.max(0, Swift.min(1, 0.2 * $0 + 0.5)) })
        #expect(Self.unary(Int32(OCTET_UNARY_HARD_SWISH), Array(x.dropLast(2)), level: Int32(level))
            == x.dropLast(2).map { $0 * Swift.max(0, Swift.min(1, $0 / 6 + 0.5)) })
    }

    @Test(arguments: levels) func binaryOperatorsAreExactForEveryStepPattern(level: Int) {
        octet_kernels_set_level(Int32(level))
        defer { octet_kernels_set_level(-1) }
        let a: [Float] = (0..<37).map { Float($0) * 0.37 - 5 }
        let b: [Float] = (0..<37).map { Float($0) * -0.11 + 1.3 }
        let operators: [(Int32, (Float, Float) -> Float)] = [(Int32(OCTET_BINARY_ADD), (+)), (Int32(OCTET_BINARY_SUB), (-)),
                                                              (Int32(OCTET_BINARY_MUL), (*)), (Int32(OCTET_BINARY_DIV), (/))]
        for (op, reference) in operators {
            for (stepA, stepB) in [(1, 1), (1, 0), (0, 1), (0, 0)] {
                var y = [Float](repeating: .nan, count: a.count)
                octet_binary_f32(op, a, Int32(stepA), b, Int32(stepB), &y, a.count)
                let expected = (0..<a.count).map { reference(a[$0 * stepA], b[$0 * stepB]) }
                #expect(y == expected, "op \(op), steps \(stepA) \(stepB)")
            }
        }
    }

    /// Rows of outputs, each input a row of its own or one value per row (a squeeze-excite scale),
    /// row lengths around the 16-lane blocks: every element as the scalar operator computes it,
    /// NaN and -0 through the fused Relu included.
    @Test(arguments: levels) func binaryRowsAreExactForEveryStepPattern(level: Int) {
        octet_kernels_set_level(Int32(level))
        defer { octet_kernels_set_level(-1) }
        let operators: [(Int32, (Float, Float) -> Float)] = [
            (Int32(OCTET_BINARY_ADD), (+)), (Int32(OCTET_BINARY_SUB), (-)), (Int32(OCTET_BINARY_MUL), (*)),
            (Int32(OCTET_BINARY_DIV), (/)), (Int32(OCTET_BINARY_ADD_RELU), { ($0 + $1) < 0 ? 0 : $0 + $1 }),
        ]
        for n in [1, 7, 16, 17, 49] {
            let rows = 6
            var a: [Float] = (0..<(rows * n)).map { Float(($0 * 29 % 83) - 41) / 9 }
            a[3 % a.count] = .nan
            a[(5 * n + n - 1) % a.count] = -0.0
            let b: [Float] = (0..<(rows * n)).map { Float(($0 * 13 % 47) - 23) / 5 }
            for (op, reference) in operators {
                for (stepA, stepB) in [(1, 1), (1, 0), (0, 1)] {
                    let (rowA, rowB) = (stepA == 1 ? n : 1, stepB == 1 ? n : 1)
                    var y = [Float](repeating: 7, count: rows * n)
                    octet_binary_rows_f32(op, a, rowA, Int32(stepA), b, rowB, Int32(stepB), &y, rows, n)
                    let expected = (0..<(rows * n)).map { i in
                        reference(a[i / n * rowA + i % n * stepA], b[i / n * rowB + i % n * stepB])
                    }
                    let same = zip(y, expected).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
                    #expect(same, "level \(level), op \(op), n \(n), steps \(stepA) \(stepB)")
                }
            }
        }
    }

    /// The portable path (what CPUs without AVX2 run) computes whole models like the vector paths:
    /// Conv, GEMM, Relu, Softmax with -inf, and the float binary operators.
    @Test func portableDispatchRunsWholeModels() throws {
        let model = TestModels.maskedCNN()
        let x = Tensor(shape: [3, 2, 6, 6], scalars: TestModels.randomFloats(216, seed: 31, scale: 2))
        let session = try Session(model: model)
        let vector = try session.run(["x": x], outputs: ["logits", "scores"])
        // The forced level holds for this thread only: run on it alone.
        let saved = ThreadPool.threads
        ThreadPool.threads = 1
        octet_kernels_set_level(0)
        defer {
            octet_kernels_set_level(-1)
            ThreadPool.threads = saved
        }
        let portable = try session.run(["x": x], outputs: ["logits", "scores"])
        for name in ["logits", "scores"] {
            let a = try #require(vector[name]).scalars(as: Float.self)
            let b = try #require(portable[name]).scalars(as: Float.self)
            let scale = a.map { abs($0) }.max() ?? 1
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * Swift.max(scale, 1) }, "\(name)")
        }
    }

    @Test(arguments: levels) func rowMeansMatchDouble(level: Int) {
        // Row lengths around the 16- and 32-lane blocks (masked tails) and GlobalAveragePool's
        // 7 × 7 and 14 × 14 planes.
        for n in [1, 7, 15, 16, 17, 31, 32, 33, 49, 63, 196] {
            let rows = 5
            let x = (0..<(rows * n)).map { Float(($0 * 37 % 101) - 50) / 7 }
            var y = [Float](repeating: .nan, count: rows)
            octet_kernels_set_level(Int32(level))
            x.withUnsafeBufferPointer { source in
                y.withUnsafeMutableBufferPointer { target in
                    octet_sum_rows_f32(source.baseAddress, target.baseAddress, rows, n, 1.0 / Double(n))
                }
            }
            octet_kernels_set_level(-1)
            for row in 0..<rows {
                let exact = x[(row * n)..<((row + 1) * n)].reduce(0.0) { $0 + Double($1) } / Double(n)
                #expect(abs(Double(y[row]) - exact) <= 1e-5 * max(1, abs(exact)), "level \(level), n \(n), row \(row)")
            }
        }
    }
}
