import COctetKernels

/// Single-precision matrix multiply `C = A · B` on row-major buffers: B is packed into panels of
/// 16 columns, A into micro-panels of 12 rows (or read in place), and register tiles of 12 × 16
/// are computed by the C micro-kernel (AVX-512, or two 6 × 16 tiles with AVX2/FMA or portable
/// C). Tiles are split over threads; each output element is summed by one thread in a fixed
/// order, so results do not depend on the thread count.
enum GEMM {
    static let panelWidth = Int(OCTET_GEMM_NR)
    /// Rows of A per tile: one packed micro-panel.
    static let tileRows = Int(OCTET_GEMM_PACKED_ROWS)

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
        let panels = (n + panelWidth - 1) / panelWidth
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: panels * k * panelWidth)
        defer { packed.deallocate() }
        let sharedB = UnsafeSendablePointer(pointer: b)
        let sharedPacked = UnsafeSendableMutablePointer(pointer: packed)
        ThreadPool.parallelFor(panels, minimumChunk: max(1, 65_536 / max(k * panelWidth, 1))) { range in
            let column = range.lowerBound * panelWidth
            octet_pack_panels(Int32(k), sharedB.pointer + column, n, min(n, range.upperBound * panelWidth) - column,
                              sharedPacked.pointer + range.lowerBound * k * panelWidth)
        }
        multiply(m: m, n: n, k: k, a: a, packedB: UnsafePointer(packed), c: c, accumulate: accumulate)
    }

    /// B[k×n] packed into ⌈n/16⌉ panels of k × 16, made once for a constant weight.
    final class PackedMatrix: @unchecked Sendable {
        let k: Int
        let n: Int
        let panels: UnsafeMutablePointer<Float>

        /// Packs `b[k×n]` (row-major, contiguous; `nil` only when it has no elements).
        init(k: Int, n: Int, b: UnsafePointer<Float>?) {
            self.k = k
            self.n = n
            let count = (n + GEMM.panelWidth - 1) / GEMM.panelWidth
            panels = UnsafeMutablePointer<Float>.allocate(capacity: max(count * k * GEMM.panelWidth, 1))
            guard let b, k > 0 else { return }
            octet_pack_panels(Int32(k), b, n, n, panels)
        }

        deinit { panels.deallocate() }
    }

    /// A[m×k] packed into ⌈m/12⌉ micro-panels of k × 12 (`octet_pack_rows`), made once for a
    /// constant weight (a convolution's filters) or per call for an activation.
    final class PackedRows: @unchecked Sendable {
        let m: Int
        let k: Int
        let panels: UnsafeMutablePointer<Float>

        /// Packs `a[m×k]` (row-major, contiguous), the micro-panels split over threads.
        init(m: Int, k: Int, a: UnsafePointer<Float>) {
            self.m = m
            self.k = k
            let blocks = (m + GEMM.tileRows - 1) / GEMM.tileRows
            panels = UnsafeMutablePointer<Float>.allocate(capacity: max(blocks * k * GEMM.tileRows, 1))
            let source = UnsafeSendablePointer(pointer: a)
            let target = UnsafeSendableMutablePointer(pointer: panels)
            ThreadPool.parallelFor(blocks, minimumChunk: max(1, 32_768 / max(k * GEMM.tileRows, 1))) { range in
                for block in range {
                    let row = block * GEMM.tileRows
                    octet_pack_rows(Int32(min(GEMM.tileRows, m - row)), Int32(k), source.pointer + row * k, k,
                                    target.pointer + block * k * GEMM.tileRows)
                }
            }
        }

        /// The micro-panel holding rows `12·block …`.
        func block(_ block: Int) -> UnsafePointer<Float> { UnsafePointer(panels + block * k * GEMM.tileRows) }

        deinit { panels.deallocate() }
    }

    /// Computes `c[m×n] (+)= a[m×k] · B` where B is already packed into ⌈n/16⌉ panels of k × 16
    /// (A packed into micro-panels first when there are enough panels, else read in place).
    static func multiply(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, packedB: UnsafePointer<Float>,
                         c: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        guard m > 0, n > 0 else { return }
        if n >= 4 * panelWidth && m > tileRows {
            // Enough panels to repay packing A: its micro-panels are contiguous, where rows read
            // in place sit `k` floats apart (a power-of-two stride puts them in one cache set);
            // packed, two panels share each tile (``octet_sgemm_panels``).
            let packedA = PackedRows(m: m, k: k, a: a)
            tiles(m: m, n: n, k: k, packedB: packedB, c: c) { rows, row, b, c, ldc, count, lastWidth in
                octet_sgemm_panels(rows, Int32(k), packedA.block(row / tileRows), b, panelWidth, k * panelWidth, count, c, ldc, lastWidth,
                                   accumulate ? 1 : 0, nil, nil, 0)
            }
            return
        }
        let sharedA = UnsafeSendablePointer(pointer: a)
        tiles(m: m, n: n, k: k, packedB: packedB, c: c) { rows, row, b, c, ldc, count, lastWidth in
            if rows == 1 {
                // One row (a batch of one through a classifier): panels side by side, the same sums.
                octet_sgemm_row_panels(Int32(k), sharedA.pointer + row * k, b, k * panelWidth, count, c, lastWidth, accumulate ? 1 : 0)
                return
            }
            for panel in 0..<Int(count) {
                octet_sgemm_tile_rows(rows, Int32(k), sharedA.pointer + row * k, k, b + panel * k * panelWidth, panelWidth,
                                      c + panel * panelWidth, ldc, panel == Int(count) - 1 ? lastWidth : Int32(panelWidth),
                                      accumulate ? 1 : 0, nil, 0)
            }
        }
    }

    /// Runs `tiles(rows, first row, B panels, C, ldc, panel count, last panel's width)` over the
    /// 12 × 16 tiles of an m × n product, one block of rows over up to two panels at a time,
    /// split over threads by panels or by row blocks (whichever has more).
    private static func tiles(m: Int, n: Int, k: Int, packedB: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                              _ tiles: (Int32, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int32, Int32) -> Void) {
        let panels = (n + panelWidth - 1) / panelWidth
        let sharedPacked = UnsafeSendablePointer(pointer: packedB)
        let sharedC = UnsafeSendableMutablePointer(pointer: c)
        let rowBlocks = (m + tileRows - 1) / tileRows
        let tileWork = max(1, k * panelWidth * tileRows)
        func run(_ block: Int, _ range: Range<Int>) {
            let row = block * tileRows
            let column = range.lowerBound * panelWidth
            let lastWidth = min(panelWidth, n - (range.upperBound - 1) * panelWidth)
            tiles(Int32(min(tileRows, m - row)), row, sharedPacked.pointer + range.lowerBound * k * panelWidth, sharedC.pointer + row * n + column,
                  n, Int32(range.count), Int32(lastWidth))
        }
        if panels >= rowBlocks {
            ThreadPool.parallelFor(panels, minimumChunk: max(1, 131_072 / (tileWork * rowBlocks))) { range in
                for first in stride(from: range.lowerBound, to: range.upperBound, by: 2) {
                    for block in 0..<rowBlocks { run(block, first..<min(first + 2, range.upperBound)) }
                }
            }
        } else {
            ThreadPool.parallelFor(rowBlocks, minimumChunk: max(1, 131_072 / (tileWork * panels))) { range in
                for block in range { run(block, 0..<panels) }
            }
        }
    }
}

/// A pointer shared across threads that write disjoint parts of its memory.
struct UnsafeSendablePointer<T>: @unchecked Sendable { let pointer: UnsafePointer<T> }
/// A mutable pointer shared across threads that write disjoint parts of its memory.
struct UnsafeSendableMutablePointer<T>: @unchecked Sendable { let pointer: UnsafeMutablePointer<T> }
