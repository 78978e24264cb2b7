import Foundation
import OctetGraph

/// RoiAlign and MaxRoiPool: pooling over the regions a detector proposes. Double precision.
enum RegionKernels {
    /// RoiAlign: bilinear samples averaged (or their weighted corners' maximum, as ONNX
    /// Runtime does) over each bin of each region.
    static func roiAlign(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let rois = try context.input(1)
        let batchIndices = try context.input(2).integers()
        guard x.rank == 4, rois.rank == 2, rois.shape[1] == 4, rois.shape[0] == batchIndices.count else {
            throw KernelError("X \(x.shape), rois \(rois.shape) and batch_indices (\(batchIndices.count)) must be [N, C, H, W], [R, 4] and [R]")
        }
        let (channels, height, width) = (x.shape[1], x.shape[2], x.shape[3])
        guard (height > 0 && width > 0) || batchIndices.isEmpty else {
            throw KernelError("X \(x.shape) has no pixels to sample the regions from")
        }
        let (outH, outW) = (context.int("output_height", 1), context.int("output_width", 1))
        guard outH > 0, outW > 0 else { throw KernelError("output_height and output_width must be positive") }
        try Layout.check([batchIndices.count, channels, outH, outW], .float64)
        let samplingRatio = context.int("sampling_ratio", 0)
        let scale = Double(context.float("spatial_scale", 1))
        let isMax = context.string("mode", "avg") == "max"
        let halfPixel = context.opset >= 16 && context.string("coordinate_transformation_mode", "half_pixel") == "half_pixel"
        let values = try x.doubles()
        let boxes = try rois.doubles()
        var out = [Double](repeating: 0, count: batchIndices.count * channels * outH * outW)
        for r in 0..<batchIndices.count {
            let batch = batchIndices[r]
            guard batch >= 0, batch < x.shape[0] else { throw KernelError("batch index \(batch) is outside 0..<\(x.shape[0])") }
            guard boxes[r * 4..<r * 4 + 4].allSatisfy({ $0.isFinite && Swift.abs($0 * scale) < 1e9 }), scale.isFinite else {
                throw KernelError("roi \(r) has coordinates that are not finite (or beyond 1e9 after spatial_scale)")
            }
            let shift = halfPixel ? 0.5 : 0
            let startW = boxes[r * 4] * scale - shift, startH = boxes[r * 4 + 1] * scale - shift
            var roiW = boxes[r * 4 + 2] * scale - shift - startW, roiH = boxes[r * 4 + 3] * scale - shift - startH
            if !halfPixel { roiW = Swift.max(roiW, 1); roiH = Swift.max(roiH, 1) }
            let (binH, binW) = (roiH / Double(outH), roiW / Double(outW))
            // A region of negative size samples nothing (its bins are 0), as ONNX Runtime's loops do.
            let gridH = samplingRatio > 0 ? samplingRatio : Swift.max(0, Int((roiH / Double(outH)).rounded(.up)))
            let gridW = samplingRatio > 0 ? samplingRatio : Swift.max(0, Int((roiW / Double(outW)).rounded(.up)))
            guard gridH <= 1 << 20, gridW <= 1 << 20, gridH * gridW <= 1 << 20 else {
                throw KernelError("roi \(r) needs \(gridH)×\(gridW) samples per bin; give sampling_ratio for regions this large")
            }
            let count = Double(Swift.max(gridH * gridW, 1))
            for c in 0..<channels {
                let plane = (batch * channels + c) * height * width
                for ph in 0..<outH {
                    for pw in 0..<outW {
                        var total = 0.0
                        var best: Double?
                        for iy in 0..<gridH {
                            let yy = startH + Double(ph) * binH + (Double(iy) + 0.5) * binH / Double(gridH)
                            for ix in 0..<gridW {
                                let xx = startW + Double(pw) * binW + (Double(ix) + 0.5) * binW / Double(gridW)
                                let corners = bilinearCorners(y: yy, x: xx, height: height, width: width)
                                let weighted = corners.map { $0.weight * values[plane + $0.index] }
                                if isMax {
                                    let m = weighted.max() ?? 0
                                    best = best.map { Swift.max($0, m) } ?? m
                                } else {
                                    total += weighted.reduce(0, +)
                                }
                            }
                        }
                        out[((r * channels + c) * outH + ph) * outW + pw] = isMax ? best ?? 0 : total / count
                    }
                }
            }
        }
        return try Tensor(shape: [batchIndices.count, channels, outH, outW], scalars: out).converted(to: x.dtype)
    }

    /// The four corners and weights of a bilinear sample (RoiAlign's rules: outside [−1, size]
    /// gives nothing; coordinates clamp at the last row/column).
    static func bilinearCorners(y: Double, x: Double, height: Int, width: Int) -> [(index: Int, weight: Double)] {
        if y < -1 || y > Double(height) || x < -1 || x > Double(width) { return [(0, 0), (0, 0), (0, 0), (0, 0)] }
        var (y, x) = (Swift.max(y, 0), Swift.max(x, 0))
        var yLow = Int(y), xLow = Int(x)
        let yHigh: Int, xHigh: Int
        if yLow >= height - 1 { yLow = height - 1; yHigh = yLow; y = Double(yLow) } else { yHigh = yLow + 1 }
        if xLow >= width - 1 { xLow = width - 1; xHigh = xLow; x = Double(xLow) } else { xHigh = xLow + 1 }
        let (ly, lx) = (y - Double(yLow), x - Double(xLow))
        let (hy, hx) = (1 - ly, 1 - lx)
        return [(yLow * width + xLow, hy * hx), (yLow * width + xHigh, hy * lx),
                (yHigh * width + xLow, ly * hx), (yHigh * width + xHigh, ly * lx)]
    }

    /// MaxRoiPool: the maximum over each of pooled_shape's bins of each region (Fast R-CNN).
    static func maxRoiPool(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let rois = try context.input(1)
        guard x.rank == 4, rois.rank == 2, rois.shape[1] == 5, let pooled = context.ints("pooled_shape"), pooled.count == 2,
              pooled.allSatisfy({ $0 > 0 }) else {
            throw KernelError("X \(x.shape) and rois \(rois.shape) must be [N, C, H, W] and [R, 5] with pooled_shape [h, w]")
        }
        let scale = Double(context.float("spatial_scale", 1))
        let (channels, height, width) = (x.shape[1], x.shape[2], x.shape[3])
        let values = try x.doubles()
        let boxes = try rois.doubles()
        let count = rois.shape[0]
        var out = [Double](repeating: 0, count: count * channels * pooled[0] * pooled[1])
        for r in 0..<count {
            guard boxes[r * 5..<r * 5 + 5].allSatisfy({ $0.isFinite && Swift.abs($0 * scale) < 1e9 }), scale.isFinite else {
                throw KernelError("roi \(r) has values that are not finite (or beyond 1e9 after spatial_scale)")
            }
            let batch = Int(boxes[r * 5])
            guard batch >= 0, batch < x.shape[0] else { throw KernelError("roi \(r) names batch \(batch), outside 0..<\(x.shape[0])") }
            let coordinates = (1...4).map { Int((boxes[r * 5 + $0] * scale).rounded(.toNearestOrAwayFromZero)) }
            let (startW, startH, endW, endH) = (coordinates[0], coordinates[1], coordinates[2], coordinates[3])
            let roiH = Swift.max(endH - startH + 1, 1), roiW = Swift.max(endW - startW + 1, 1)
            let binH = Double(roiH) / Double(pooled[0]), binW = Double(roiW) / Double(pooled[1])
            for c in 0..<channels {
                let plane = (batch * channels + c) * height * width
                for ph in 0..<pooled[0] {
                    for pw in 0..<pooled[1] {
                        let h0 = Swift.min(Swift.max(Int((Double(ph) * binH).rounded(.down)) + startH, 0), height)
                        let h1 = Swift.min(Swift.max(Int((Double(ph + 1) * binH).rounded(.up)) + startH, 0), height)
                        let w0 = Swift.min(Swift.max(Int((Double(pw) * binW).rounded(.down)) + startW, 0), width)
                        let w1 = Swift.min(Swift.max(Int((Double(pw + 1) * binW).rounded(.up)) + startW, 0), width)
                        var best = h1 <= h0 || w1 <= w0 ? 0 : -Double.infinity
                        for h in h0..<Swift.max(h0, h1) { for w in w0..<Swift.max(w0, w1) { best = Swift.max(best, values[plane + h * width + w]) } }
                        out[((r * channels + c) * pooled[0] + ph) * pooled[1] + pw] = best
                    }
                }
            }
        }
        return try Tensor(shape: [count, channels, pooled[0], pooled[1]], scalars: out).converted(to: x.dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("RoiAlign") { [try roiAlign($0)] }
        registry.register("MaxRoiPool") { [try maxRoiPool($0)] }
    }
}
