import Foundation
import OctetGraph

/// GridSample, AffineGrid and DeformConv: operators that read their input at computed, fractional
/// positions. Double precision throughout.
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
        guard inVolume > 0 || outVolume == 0 || n * channels == 0 else {
            throw KernelError("X \(x.shape) has no elements to sample from")
        }
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
                let position = Layout.coordinates(p, strides: strides)
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
        registry.register("DeformConv") { [try deformConv($0)] }
    }
}
