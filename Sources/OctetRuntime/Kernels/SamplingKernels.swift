import Foundation
import OctetGraph

/// GridSample, AffineGrid, RoiAlign, MaxRoiPool, MaxUnpool, Col2Im and DeformConv: operators that
/// read their input at computed (often fractional) positions. Double precision throughout.
enum SamplingKernels {
    enum Interpolation { case nearest, linear, cubic }
    enum Padding: String { case zeros, border, reflection }

    /// Reflects `x` into [low, high] by its nearer border, as often as needed.
    static func reflect(_ x: Double, _ low: Double, _ high: Double) -> Double {
        let range = high - low
        guard range > 0, x.isFinite else { return low }
        if x < low {
            let d = low - x
            let n = (d / range).rounded(.towardZero)
            let r = d - n * range
            return n.truncatingRemainder(dividingBy: 2) == 0 ? low + r : high - r
        }
        if x > high {
            let d = x - high
            let n = (d / range).rounded(.towardZero)
            let r = d - n * range
            return n.truncatingRemainder(dividingBy: 2) == 0 ? high - r : low + r
        }
        return x
    }

    /// Keys' cubic convolution weights (a = −0.75) for the four taps around fraction `t`.
    static func cubicWeights(_ t: Double) -> [Double] {
        let a = -0.75
        func near(_ x: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return [far(t + 1), near(t), near(1 - t), far(2 - t)]
    }

    /// GridSample over any number of spatial axes: grid [N, D1…Dr, r] holds normalized (x, y, …)
    /// positions in [−1, 1], innermost axis first.
    static func gridSample(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let grid = try context.input(1)
        let spatial = x.rank - 2
        guard x.dtype.isFloatingPoint, spatial >= 1, grid.rank == x.rank, grid.shape[0] == x.shape[0],
              grid.shape[grid.rank - 1] == spatial else {
            throw KernelError("X \(x.shape) and grid \(grid.shape) must be [N, C, D1…Dr] and [N, E1…Er, r]")
        }
        let modeName = context.string("mode", context.opset >= 20 ? "linear" : "bilinear")
        let mode: Interpolation
        switch modeName {
        case "nearest": mode = .nearest
        case "linear", "bilinear": mode = .linear
        case "cubic", "bicubic": mode = .cubic
        default: throw KernelError("mode \"\(modeName)\" is not nearest, linear or cubic")
        }
        guard let padding = Padding(rawValue: context.string("padding_mode", "zeros")) else {
            throw KernelError("padding_mode \"\(context.string("padding_mode", ""))\" is not zeros, border or reflection")
        }
        let alignCorners = context.int("align_corners", 0) != 0
        let dims = Array(x.shape[2...])
        let outSpatial = Array(grid.shape[1..<(grid.rank - 1)])
        let (n, channels) = (x.shape[0], x.shape[1])
        let inVolume = dims.reduce(1, *)
        let outVolume = outSpatial.reduce(1, *)
        let strides = Layout.strides(dims)
        let values = try x.doubles()
        let positions = try grid.doubles()
        let low: [Double] = dims.map { _ in alignCorners ? 0 : -0.5 }
        let high: [Double] = dims.map { alignCorners ? Double($0 - 1) : Double($0) - 0.5 }
        var out = [Double](repeating: 0, count: n * channels * outVolume)
        for b in 0..<n {
            for o in 0..<outVolume {
                // Per axis: the taps (index, weight) of this output point.
                var taps: [[(Int, Double)]] = []
                var skip = false
                for axis in 0..<spatial {
                    let normalized = positions[(b * outVolume + o) * spatial + (spatial - 1 - axis)]
                    let size = Double(dims[axis])
                    var c = alignCorners ? (normalized + 1) / 2 * (size - 1) : ((normalized + 1) * size - 1) / 2
                    if mode == .nearest { c = c.rounded(.toNearestOrEven) }
                    // Out-of-range positions move inside first (ONNX's definition); cubic taps are
                    // padded one by one instead, as PyTorch and ONNX Runtime do.
                    if mode != .cubic, c < low[axis] || c > high[axis] {
                        if padding == .border { c = Swift.min(Swift.max(c, 0), size - 1) }
                        if padding == .reflection { c = reflect(c, low[axis], high[axis]) }
                    }
                    if c.isNaN { skip = true; break }
                    // Far outside: reflect back in, or park just past the edge (same taps and weights).
                    if Swift.abs(c) > 1e9 { c = padding == .reflection ? reflect(c, low[axis], high[axis]) : (c < 0 ? -8 : size + 8) }
                    var axisTaps: [(Int, Double)]
                    switch mode {
                    case .nearest: axisTaps = [(Int(c), 1)]
                    case .linear:
                        let base = c.rounded(.down)
                        axisTaps = [(Int(base), 1 - (c - base)), (Int(base) + 1, c - base)]
                    case .cubic:
                        let base = c.rounded(.down)
                        let weights = cubicWeights(c - base)
                        axisTaps = (0..<4).map { (Int(base) - 1 + $0, weights[$0]) }
                    }
                    // Taps outside the input: zero, clamped, or reflected back in.
                    axisTaps = axisTaps.map { index, weight in
                        if index >= 0 && index < dims[axis] { return (index, weight) }
                        switch padding {
                        case .zeros: return (-1, weight)
                        case .border: return (Swift.min(Swift.max(index, 0), dims[axis] - 1), weight)
                        case .reflection: return (Int(reflect(Double(index), low[axis], high[axis])), weight)
                        }
                    }
                    taps.append(axisTaps)
                }
                if skip { continue }
                for channel in 0..<channels {
                    let base = (b * channels + channel) * inVolume
                    var total = 0.0
                    var choice = [Int](repeating: 0, count: spatial)
                    outer: while true {
                        var weight = 1.0
                        var offset = 0
                        for axis in 0..<spatial {
                            let (index, w) = taps[axis][choice[axis]]
                            if index < 0 { weight = 0; break }
                            weight *= w
                            offset += index * strides[axis]
                        }
                        if weight != 0 { total += weight * values[base + offset] }
                        var axis = spatial - 1
                        while axis >= 0 {
                            choice[axis] += 1
                            if choice[axis] < taps[axis].count { break }
                            choice[axis] = 0
                            axis -= 1
                        }
                        if axis < 0 { break outer }
                    }
                    out[(b * channels + channel) * outVolume + o] = total
                }
            }
        }
        return try Tensor(shape: [n, channels] + outSpatial, scalars: out).converted(to: x.dtype)
    }

    /// AffineGrid: θ [N, 2, 3] (or [N, 3, 4]) applied to the normalized base grid of `size`.
    static func affineGrid(_ context: KernelContext) throws -> Tensor {
        let theta = try context.input(0)
        let size = try context.input(1).integers()
        let spatial = size.count - 2
        guard spatial == 2 || spatial == 3, theta.rank == 3, theta.shape[1] == spatial, theta.shape[2] == spatial + 1,
              theta.shape[0] == size[0], size.allSatisfy({ $0 > 0 }) else {
            throw KernelError("theta \(theta.shape) and size \(size) must be [N, 2, 3] with [N, C, H, W] or [N, 3, 4] with [N, C, D, H, W]")
        }
        try Layout.check([size[0]] + Array(size[2...]) + [spatial], theta.dtype)
        let alignCorners = context.int("align_corners", 0) != 0
        let dims = Array(size[2...])
        // Normalized coordinates along each axis (x is the last spatial axis).
        let axes = dims.map { count in
            (0..<count).map { i -> Double in
                if alignCorners { return count == 1 ? -1 : -1 + 2 * Double(i) / Double(count - 1) }
                return -1 + (2 * Double(i) + 1) / Double(count)
            }
        }
        let t = try theta.doubles()
        let points = dims.reduce(1, *)
        let strides = Layout.strides(dims)
        var out = [Double](repeating: 0, count: size[0] * points * spatial)
        for b in 0..<size[0] {
            for p in 0..<points {
                let position = SelectionKernels.coordinates(p, strides: strides)
                // Homogeneous (x, y[, z], 1): innermost axis first.
                let homogeneous = (0..<spatial).map { axes[spatial - 1 - $0][position[spatial - 1 - $0]] } + [1]
                for row in 0..<spatial {
                    var value = 0.0
                    for column in 0...spatial { value += t[(b * spatial + row) * (spatial + 1) + column] * homogeneous[column] }
                    out[(b * points + p) * spatial + row] = value
                }
            }
        }
        return try Tensor(shape: [size[0]] + dims + [spatial], scalars: out).converted(to: theta.dtype)
    }

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

    /// MaxUnpool: each value written at its flat index (from MaxPool's second output) into a
    /// zero tensor of the inferred (or given, larger) shape.
    static func maxUnpool(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let indices = try context.input(1).integers()
        guard let kernel = context.ints("kernel_shape"), kernel.count == x.rank - 2, x.rank >= 3, indices.count == x.elementCount else {
            throw KernelError("X \(x.shape) needs kernel_shape per spatial axis and one index per element")
        }
        let strides = context.ints("strides") ?? Array(repeating: 1, count: kernel.count)
        let pads = context.ints("pads") ?? Array(repeating: 0, count: 2 * kernel.count)
        guard strides.count == kernel.count, pads.count == 2 * kernel.count else { throw KernelError("strides and pads do not match kernel_shape") }
        guard (kernel + strides + pads).allSatisfy({ $0 >= 0 && $0 < Int(Int32.max) }) else {
            throw KernelError("kernel_shape \(kernel), strides \(strides) and pads \(pads) must lie in 0..<2^31")
        }
        var inferred = Array(x.shape[..<2])
        for axis in 0..<kernel.count {
            inferred.append((x.shape[axis + 2] - 1) * strides[axis] - pads[axis] - pads[axis + kernel.count] + kernel[axis])
        }
        try Layout.check(inferred, x.dtype)
        let shape = try context.optionalInput(2)?.integers() ?? inferred
        try Layout.check(shape, x.dtype)
        guard shape.count == inferred.count, zip(shape, inferred).allSatisfy({ $0 >= $1 }), inferred.allSatisfy({ $0 >= 0 }) else {
            throw KernelError("output_shape \(shape) must have rank \(inferred.count) and be at least the inferred \(inferred)")
        }
        let total = inferred.reduce(1, *)
        var dense = [Int?](repeating: nil, count: total)
        for (position, index) in indices.enumerated() {
            guard index >= 0, index < total else { throw KernelError("index \(index) is outside the unpooled tensor's \(total) elements") }
            dense[index] = position
        }
        let (outStrides, inferredStrides) = (Layout.strides(shape), Layout.strides(inferred))
        return try SelectionKernels.gatherOrZero(x, shape: shape) { index in
            let position = SelectionKernels.coordinates(index, strides: outStrides)
            guard zip(position, inferred).allSatisfy({ $0 < $1 }) else { return nil }
            return dense[zip(position, inferredStrides).reduce(0) { $0 + $1.0 * $1.1 }]
        }
    }

    /// Col2Im: sums columns [N, C·∏block, L] back into images [N, C, image_shape…].
    static func col2Im(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        let image = try context.input(1).integers()
        let block = try context.input(2).integers()
        let rank = image.count
        let dilations = context.ints("dilations") ?? Array(repeating: 1, count: rank)
        let pads = context.ints("pads") ?? Array(repeating: 0, count: 2 * rank)
        let strides = context.ints("strides") ?? Array(repeating: 1, count: rank)
        let blockSize = Checked.product(block) ?? 0
        guard input.rank == 3, block.count == rank, rank > 0, blockSize > 0, input.shape[1] % blockSize == 0,
              dilations.count == rank, strides.count == rank, pads.count == 2 * rank,
              (image + block + dilations + strides).allSatisfy({ $0 > 0 }),
              (image + block + dilations + strides + pads).allSatisfy({ $0 >= 0 && $0 < Int(Int32.max) }) else {
            throw KernelError("input \(input.shape), image_shape \(image) and block_shape \(block) do not fit together")
        }
        let columns = try (0..<rank).map { axis -> Int in
            guard let reach = Checked.multiply(dilations[axis], block[axis] - 1), reach < Int(Int32.max) else {
                throw KernelError("dilations \(dilations) and block_shape \(block) reach past 2^31")
            }
            return (image[axis] + pads[axis] + pads[axis + rank] - reach - 1) / strides[axis] + 1
        }
        guard columns.reduce(1, *) == input.shape[2], columns.allSatisfy({ $0 > 0 }) else {
            throw KernelError("input's last dimension \(input.shape[2]) is not the number of sliding blocks \(columns)")
        }
        let channels = input.shape[1] / blockSize
        try Layout.check([input.shape[0], channels] + image, input.dtype)
        let values = try input.doubles()
        let imageVolume = image.reduce(1, *)
        let (blockStrides, columnStrides, imageStrides) = (Layout.strides(block), Layout.strides(columns), Layout.strides(image))
        var out = [Double](repeating: 0, count: input.shape[0] * channels * imageVolume)
        for n in 0..<input.shape[0] {
            for c in 0..<channels {
                for k in 0..<blockSize {
                    let offset = SelectionKernels.coordinates(k, strides: blockStrides)
                    for l in 0..<input.shape[2] {
                        let column = SelectionKernels.coordinates(l, strides: columnStrides)
                        var flat = 0
                        var inside = true
                        for axis in 0..<rank {
                            let position = column[axis] * strides[axis] - pads[axis] + offset[axis] * dilations[axis]
                            if position < 0 || position >= image[axis] { inside = false; break }
                            flat += position * imageStrides[axis]
                        }
                        if inside {
                            out[(n * channels + c) * imageVolume + flat] += values[((n * input.shape[1]) + c * blockSize + k) * input.shape[2] + l]
                        }
                    }
                }
            }
        }
        return try Tensor(shape: [input.shape[0], channels] + image, scalars: out).converted(to: input.dtype)
    }

    /// DeformConv (2-D): each kernel tap samples X bilinearly at its offset position (zero
    /// outside), scaled by the optional mask.
    static func deformConv(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        let w = try context.input(1)
        let offset = try context.input(2)
        guard x.rank == 4, w.rank == 4, offset.rank == 4 else {
            throw KernelError("X \(x.shape), W \(w.shape) and offset \(offset.shape) must be 4-D (2-D convolution)")
        }
        let (n, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (filters, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let group = context.int("group", 1)
        let offsetGroup = context.int("offset_group", 1)
        guard group > 0, offsetGroup > 0, channels == w.shape[1] * group, filters % group == 0, channels % offsetGroup == 0,
              offset.shape[0] == n, offset.shape[1] == offsetGroup * kh * kw * 2 else {
            throw KernelError("X \(x.shape), W \(w.shape), offset \(offset.shape), group \(group) and offset_group \(offsetGroup) do not fit")
        }
        let strides = context.ints("strides") ?? [1, 1]
        let dilations = context.ints("dilations") ?? [1, 1]
        let pads = context.ints("pads") ?? [0, 0, 0, 0]
        let (outH, outW) = (offset.shape[2], offset.shape[3])
        guard strides.count == 2, dilations.count == 2, pads.count == 4, strides.allSatisfy({ $0 > 0 }),
              (strides + dilations + pads).allSatisfy({ $0 >= 0 && $0 < Int(Int32.max) }),
              outH == (height + pads[0] + pads[2] - (kh - 1) * dilations[0] - 1) / strides[0] + 1,
              outW == (width + pads[1] + pads[3] - (kw - 1) * dilations[1] - 1) / strides[1] + 1 else {
            throw KernelError("offset's spatial size \([outH, outW]) does not match the convolution's output size")
        }
        let xs = try x.doubles(), ws = try w.doubles(), offsets = try offset.doubles()
        let mask = try context.optionalInput(4)?.doubles()
        if let mask, mask.count != n * offsetGroup * kh * kw * outH * outW { throw KernelError("mask does not match offset's shape") }
        let bias = try context.optionalInput(3)?.doubles()
        if let bias, bias.count != filters { throw KernelError("B holds \(bias.count) values but W has \(filters) filters") }
        let (perGroupIn, perGroupOut, perOffsetGroup) = (channels / group, filters / group, channels / offsetGroup)
        func sample(_ plane: Int, _ y: Double, _ x: Double) -> Double {
            guard y > -1, y < Double(height), x > -1, x < Double(width) else { return 0 }
            let (y0, x0) = (Int(y.rounded(.down)), Int(x.rounded(.down)))
            var total = 0.0
            for (dy, wy) in [(0, 1 - (y - Double(y0))), (1, y - Double(y0))] {
                for (dx, wx) in [(0, 1 - (x - Double(x0))), (1, x - Double(x0))] {
                    let (yy, xx) = (y0 + dy, x0 + dx)
                    if yy >= 0, yy < height, xx >= 0, xx < width, wy * wx != 0 { total += wy * wx * xs[plane + yy * width + xx] }
                }
            }
            return total
        }
        var out = [Double](repeating: 0, count: n * filters * outH * outW)
        for b in 0..<n {
            for f in 0..<filters {
                let g = f / perGroupOut
                for i in 0..<outH {
                    for j in 0..<outW {
                        var total = bias?[f] ?? 0
                        for c in 0..<perGroupIn {
                            let channel = g * perGroupIn + c
                            let og = channel / perOffsetGroup
                            let plane = (b * channels + channel) * height * width
                            for ki in 0..<kh {
                                for kj in 0..<kw {
                                    let tap = (og * kh + ki) * kw + kj
                                    let dy = offsets[((b * offset.shape[1] + tap * 2) * outH + i) * outW + j]
                                    let dx = offsets[((b * offset.shape[1] + tap * 2 + 1) * outH + i) * outW + j]
                                    let y = Double(i * strides[0] - pads[0] + ki * dilations[0]) + dy
                                    let x = Double(j * strides[1] - pads[1] + kj * dilations[1]) + dx
                                    let m = mask?[((b * offsetGroup * kh * kw + tap) * outH + i) * outW + j] ?? 1
                                    total += ws[((f * perGroupIn + c) * kh + ki) * kw + kj] * sample(plane, y, x) * m
                                }
                            }
                        }
                        out[((b * filters + f) * outH + i) * outW + j] = total
                    }
                }
            }
        }
        return try Tensor(shape: [n, filters, outH, outW], scalars: out).converted(to: x.dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("GridSample") { [try gridSample($0)] }
        registry.register("AffineGrid") { [try affineGrid($0)] }
        registry.register("RoiAlign") { [try roiAlign($0)] }
        registry.register("MaxRoiPool") { [try maxRoiPool($0)] }
        registry.register("MaxUnpool") { [try maxUnpool($0)] }
        registry.register("Col2Im") { [try col2Im($0)] }
        registry.register("DeformConv") { [try deformConv($0)] }
    }
}
