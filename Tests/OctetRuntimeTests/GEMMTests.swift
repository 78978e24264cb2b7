import COctetKernels
import Testing
@testable import OctetRuntime

/// The blocked GEMM against a double-precision triple loop, at sizes that exercise partial
/// tiles (every row count of a 12-row micro-panel) and panels, A read in place and packed (n ≥ 64,
/// m > 12; with AVX-512 a last panel narrower than 12 columns takes the narrow kernel), on each
/// kernel this CPU can run:
/// portable (level 0), AVX2 (1) and AVX-512 (2).
struct GEMMTests {
    @Test(arguments: [(1, 1, 1), (7, 37, 13), (6, 16, 64), (13, 5, 300), (64, 48, 3), (25, 33, 40), (11, 17, 129), (30, 70, 19), (13, 64, 5), (25, 67, 30), (40, 75, 17), (13, 65, 8), (1, 70, 9), (2, 40, 131), (3, 20, 7)])
    func matchesReference(m: Int, n: Int, k: Int) {
        forEachKernelLevel { level in check(m: m, n: n, k: k, level: level) }
    }

    /// A single row (a batch of one through a classifier, its panels side by side) gives the
    /// same bits as that row inside a product of 8 or 13 rows (12-row tiles), on every level.
    @Test(arguments: [(1000, 130), (37, 9), (200, 64), (16, 1)])
    func oneRowEqualsItsRowInABatch(n: Int, k: Int) {
        forEachKernelLevel { level in
            for m in [8, 13] {
                let a: [Float] = (0..<(m * k)).map { (i: Int) -> Float in Float((i * 37 % 101) - 50) / 25 + Float(i % 7) / 1000 }
                let b: [Float] = (0..<(k * n)).map { (i: Int) -> Float in Float((i * 53 % 97) - 48) / 24 + Float(i % 11) / 3000 }
                let packed = b.withUnsafeBufferPointer { GEMM.PackedMatrix(k: k, n: n, b: $0.baseAddress!) }
                var batch = [Float](repeating: 0, count: m * n)
                a.withUnsafeBufferPointer { pa in
                    batch.withUnsafeMutableBufferPointer { GEMM.multiply(m: m, n: n, k: k, a: pa.baseAddress!, packedB: packed.panels, c: $0.baseAddress!) }
                }
                for row in [0, m - 1] {
                    var single = [Float](repeating: 0, count: n)
                    a.withUnsafeBufferPointer { pa in
                        single.withUnsafeMutableBufferPointer {
                            GEMM.multiply(m: 1, n: n, k: k, a: pa.baseAddress! + row * k, packedB: packed.panels, c: $0.baseAddress!)
                        }
                    }
                    let differing = (0..<n).first { single[$0] != batch[row * n + $0] }
                    #expect(differing == nil, "level \(level), n \(n), k \(k): row \(row) of \(m) differs from column \(differing ?? -1)")
                }
            }
        }
    }

    private func check(m: Int, n: Int, k: Int, level: Int) {
        let a = (0..<(m * k)).map { Float(($0 * 37 % 101) - 50) / 25 }
        let b = (0..<(k * n)).map { Float(($0 * 53 % 97) - 48) / 24 }
        var c = [Float](repeating: 1, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    GEMM.multiply(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!, accumulate: true)
                }
            }
        }
        for i in 0..<m {
            for j in 0..<n {
                var expected = 1.0
                for p in 0..<k { expected += Double(a[i * k + p]) * Double(b[p * n + j]) }
                #expect(abs(Double(c[i * n + j]) - expected) <= 1e-4 * max(1, abs(expected)), "level \(level): c[\(i), \(j)]")
            }
        }
    }
}
