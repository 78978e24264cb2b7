/// Single-precision matrix multiply `C = A · B` on row-major buffers, blocked for SIMD and
/// split over rows for threads (each output element is summed by one thread in a fixed order,
/// so results do not depend on the thread count).
enum GEMM {
    static let panelWidth = 16

    /// Computes `c[m×n] = a[m×k] · b[k×n]` (all contiguous row-major), optionally adding to `c`.
    /// - Parameters:
    ///   - accumulate: add to the existing contents of `c` instead of overwriting them.
    static func multiply(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                         c: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if !accumulate { c.update(repeating: 0, count: m * n) }
            return
        }
        // Pack B into panels of 16 columns, zero-padded: panel p holds b[·, 16p..<16p+16].
        let panels = (n + panelWidth - 1) / panelWidth
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: panels * k * panelWidth)
        defer { packed.deallocate() }
        for panel in 0..<panels {
            let column = panel * panelWidth
            let width = min(panelWidth, n - column)
            let destination = packed + panel * k * panelWidth
            for row in 0..<k {
                let target = destination + row * panelWidth
                let source = b + row * n + column
                for j in 0..<width { target[j] = source[j] }
                for j in width..<panelWidth { target[j] = 0 }
            }
        }
        let packedB = UnsafeSendablePointer(pointer: UnsafePointer(packed))
        let sharedA = UnsafeSendablePointer(pointer: a)
        let sharedC = UnsafeSendableMutablePointer(pointer: c)
        let rowBlocks = (m + 3) / 4
        ThreadPool.parallelFor(rowBlocks, minimumChunk: max(1, 16_384 / max(1, n * k / 64))) { blocks in
            for block in blocks {
                let row = block * 4
                let rows = min(4, m - row)
                for panel in 0..<panels {
                    let column = panel * panelWidth
                    let width = min(panelWidth, n - column)
                    kernel(rows: rows, k: k, a: sharedA.pointer + row * k, lda: k,
                           panel: packedB.pointer + panel * k * panelWidth,
                           c: sharedC.pointer + row * n + column, ldc: n, width: width, accumulate: accumulate)
                }
            }
        }
    }

    /// Up to 4 rows × 16 columns of C from a packed panel.
    @inline(__always)
    private static func kernel(rows: Int, k: Int, a: UnsafePointer<Float>, lda: Int, panel: UnsafePointer<Float>,
                               c: UnsafeMutablePointer<Float>, ldc: Int, width: Int, accumulate: Bool) {
        var acc00 = SIMD8<Float>(), acc01 = SIMD8<Float>()
        var acc10 = SIMD8<Float>(), acc11 = SIMD8<Float>()
        var acc20 = SIMD8<Float>(), acc21 = SIMD8<Float>()
        var acc30 = SIMD8<Float>(), acc31 = SIMD8<Float>()
        let raw = UnsafeRawPointer(panel)
        if rows == 4 {
            for p in 0..<k {
                let b0 = raw.loadUnaligned(fromByteOffset: p * 64, as: SIMD8<Float>.self)
                let b1 = raw.loadUnaligned(fromByteOffset: p * 64 + 32, as: SIMD8<Float>.self)
                let a0 = SIMD8(repeating: a[p]), a1 = SIMD8(repeating: a[lda + p])
                let a2 = SIMD8(repeating: a[2 * lda + p]), a3 = SIMD8(repeating: a[3 * lda + p])
                acc00 += a0 * b0; acc01 += a0 * b1
                acc10 += a1 * b0; acc11 += a1 * b1
                acc20 += a2 * b0; acc21 += a2 * b1
                acc30 += a3 * b0; acc31 += a3 * b1
            }
        } else {
            for p in 0..<k {
                let b0 = raw.loadUnaligned(fromByteOffset: p * 64, as: SIMD8<Float>.self)
                let b1 = raw.loadUnaligned(fromByteOffset: p * 64 + 32, as: SIMD8<Float>.self)
                let a0 = SIMD8(repeating: a[p])
                acc00 += a0 * b0; acc01 += a0 * b1
                if rows > 1 { let a1 = SIMD8(repeating: a[lda + p]); acc10 += a1 * b0; acc11 += a1 * b1 }
                if rows > 2 { let a2 = SIMD8(repeating: a[2 * lda + p]); acc20 += a2 * b0; acc21 += a2 * b1 }
            }
        }
        store(acc00, acc01, to: c, width: width, accumulate: accumulate)
        if rows > 1 { store(acc10, acc11, to: c + ldc, width: width, accumulate: accumulate) }
        if rows > 2 { store(acc20, acc21, to: c + 2 * ldc, width: width, accumulate: accumulate) }
        if rows > 3 { store(acc30, acc31, to: c + 3 * ldc, width: width, accumulate: accumulate) }
    }

    @inline(__always)
    private static func store(_ low: SIMD8<Float>, _ high: SIMD8<Float>, to target: UnsafeMutablePointer<Float>,
                              width: Int, accumulate: Bool) {
        for j in 0..<width {
            let value = j < 8 ? low[j] : high[j - 8]
            target[j] = accumulate ? target[j] + value : value
        }
    }
}

/// A pointer shared across threads that write disjoint parts of its memory.
struct UnsafeSendablePointer<T>: @unchecked Sendable { let pointer: UnsafePointer<T> }
/// A mutable pointer shared across threads that write disjoint parts of its memory.
struct UnsafeSendableMutablePointer<T>: @unchecked Sendable { let pointer: UnsafeMutablePointer<T> }
