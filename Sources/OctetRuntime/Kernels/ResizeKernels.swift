import Foundation
import OctetGraph

/// Resize (nearest / linear / cubic, every coordinate transformation mode) and Upsample,
/// applied one axis at a time.
enum ResizeKernels {
    struct Options {
        var mode = "nearest"
        var coordinates = "half_pixel"
        var nearest = "round_prefer_floor"
        var cubicA = -0.75
        var excludeOutside = false
        var extrapolation = 0.0
        /// Stretch the linear / cubic filter by 1 / scale when downsampling.
        var antialias = false
    }

    /// The input coordinate that output index `o` maps to along one axis.
    static func sourceCoordinate(_ o: Int, input: Int, output: Int, scale: Double, options: Options,
                                 roi: (Double, Double)) -> Double {
        let x = Double(o)
        switch options.coordinates {
        case "align_corners":
            // The unrounded output length (input × scale), as ONNX's reference computes it.
            let length = scale * Double(input)
            return length <= 1 ? 0 : x * Double(input - 1) / (length - 1)
        case "asymmetric": return x / scale
        case "pytorch_half_pixel": return output > 1 ? (x + 0.5) / scale - 0.5 : 0
        case "tf_crop_and_resize":
            return output > 1 ? roi.0 * Double(input - 1) + x * (roi.1 - roi.0) * Double(input - 1) / Double(output - 1)
                : 0.5 * (roi.0 + roi.1) * Double(input - 1)
        case "half_pixel_symmetric":
            let adjustment = Double(output) / (scale * Double(input))
            let center = Double(input) / 2
            return center * (1 - adjustment) + (x + 0.5) / scale - 0.5
        default: return (x + 0.5) / scale - 0.5
        }
    }

    /// For each output index along one axis: (input index, weight) contributions; an empty list
    /// means the extrapolation value.
    static func contributions(input: Int, output: Int, scale: Double, options: Options, roi: (Double, Double)) -> [[(Int, Double)]] {
        (0..<output).map { o -> [(Int, Double)] in
            let x = sourceCoordinate(o, input: input, output: output, scale: scale, options: options, roi: roi)
            guard x.isFinite else { return [] }
            if options.coordinates == "tf_crop_and_resize" && (x < 0 || x > Double(input - 1)) { return [] }
            if abs(x) > 1e12 { return [(x < 0 ? 0 : input - 1, 1)] }
            func clamp(_ i: Int) -> Int { min(max(i, 0), input - 1) }
            if options.antialias && (options.mode == "linear" || options.mode == "cubic") {
                return antialiased(x, input: input, scale: scale, options: options).map { (clamp($0.0), $0.1) }
            }
            switch options.mode {
            case "linear":
                let base = x.rounded(.down)
                let t = x - base
                return [(clamp(Int(base)), 1 - t), (clamp(Int(base) + 1), t)]
            case "cubic":
                let base = x.rounded(.down)
                let t = x - base
                let a = options.cubicA
                let weights = [
                    ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                    ((a + 2) * t - (a + 3)) * t * t + 1,
                    ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                    ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
                ]
                var terms = (0..<4).map { (Int(base) - 1 + $0, weights[$0]) }
                if options.excludeOutside {
                    terms = terms.map { $0.0 < 0 || $0.0 >= input ? ($0.0, 0) : $0 }
                    let total = terms.reduce(0) { $0 + $1.1 }
                    terms = terms.map { ($0.0, total == 0 ? 0 : $0.1 / total) }
                }
                return terms.map { (clamp($0.0), $0.1) }
            default:
                let fraction = x - x.rounded(.down)
                let index: Int
                switch options.nearest {
                case "floor": index = Int(x.rounded(.down))
                case "ceil": index = Int(x.rounded(.up))
                case "round_prefer_ceil": index = Int(fraction == 0.5 ? x.rounded(.up) : x.rounded())
                default: index = Int(fraction == 0.5 ? x.rounded(.down) : x.rounded())
                }
                return [(clamp(index), 1)]
            }
        }
    }

    /// Taps of the linear or cubic filter stretched by 1 / min(scale, 1) and normalized, as ONNX
    /// defines `antialias`; an exact integer position counts as ratio 1 from the index below.
    static func antialiased(_ x: Double, input: Int, scale: Double, options: Options) -> [(Int, Double)] {
        // Scales below 1e-6 would need millions of taps per sample; they are filtered as 1e-6.
        let s = min(max(scale, 1e-6), 1)
        let floor = x.rounded(.down)
        let (base, ratio) = x == floor ? (Int(floor) - 1, 1.0) : (Int(floor), x - floor)
        let reach = options.mode == "linear" ? 1.0 : 2.0
        let start = Int((-reach / s).rounded(.down)) + 1
        let a = options.cubicA
        func weight(_ t: Double) -> Double {
            let d = abs(t)
            if options.mode == "linear" { return max(0, 1 - d) }
            if d <= 1 { return ((a + 2) * d - (a + 3)) * d * d + 1 }
            return d < 2 ? ((a * d - 5 * a) * d + 8 * a) * d - 4 * a : 0
        }
        var terms = (start..<(2 - start)).map { i in (base + i, weight(s * (Double(i) - ratio))) }
        var total = terms.reduce(0) { $0 + $1.1 }
        terms = terms.map { ($0.0, total == 0 ? 0 : $0.1 / total) }
        if options.excludeOutside {
            terms = terms.map { $0.0 < 0 || $0.0 >= input ? ($0.0, 0) : $0 }
            total = terms.reduce(0) { $0 + $1.1 }
            terms = terms.map { ($0.0, total == 0 ? 0 : $0.1 / total) }
        }
        return terms
    }

    static func resample(_ values: [Double], shape: [Int], axis: Int, output: Int, scale: Double, options: Options,
                         roi: (Double, Double)) -> [Double] {
        let input = shape[axis]
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        let terms = contributions(input: input, output: output, scale: scale, options: options, roi: roi)
        var result = [Double](repeating: 0, count: outer * output * inner)
        for block in 0..<outer {
            for o in 0..<output {
                let target = (block * output + o) * inner
                if terms[o].isEmpty {
                    for i in 0..<inner { result[target + i] = options.extrapolation }
                    continue
                }
                for (index, weight) in terms[o] where weight != 0 {
                    let source = (block * input + index) * inner
                    for i in 0..<inner { result[target + i] += weight * values[source + i] }
                }
            }
        }
        return result
    }

    static func resize(_ x: Tensor, scales requestedScales: [Double]?, sizes requestedSizes: [Int]?, roi: [Double],
                       axes: [Int]?, policy: String, options: Options) throws -> Tensor {
        let rank = x.rank
        let axes = try (axes ?? Array(0..<rank)).map { try Layout.axis($0, rank: rank) }
        var scales = [Double](repeating: 1, count: rank)
        var sizes = x.shape
        if let requestedSizes, !requestedSizes.isEmpty {
            guard requestedSizes.count == axes.count else { throw KernelError("sizes needs one entry per resized axis") }
            var chosen = zip(axes, requestedSizes).map { ($0, Double($1) / Double(x.shape[$0])) }
            guard requestedSizes.allSatisfy({ $0 >= 0 }) else { throw KernelError("sizes \(requestedSizes) must not be negative") }
            if policy != "stretch" {
                let pick = policy == "not_larger" ? chosen.map(\.1).min() ?? 1 : chosen.map(\.1).max() ?? 1
                chosen = chosen.map { ($0.0, pick) }
                for (axis, scale) in chosen {
                    let size = (Double(x.shape[axis]) * scale).rounded()
                    guard size.isFinite, size >= 0, size < 1e12 else { throw KernelError("sizes \(requestedSizes) give an invalid output size") }
                    sizes[axis] = Int(size)
                }
            } else {
                for (axis, size) in zip(axes, requestedSizes) { sizes[axis] = size }
            }
            for (axis, scale) in chosen { scales[axis] = scale }
        } else if let requestedScales {
            guard requestedScales.count == axes.count else { throw KernelError("scales needs one entry per resized axis") }
            for (axis, scale) in zip(axes, requestedScales) {
                let size = (Double(x.shape[axis]) * scale).rounded(.down)
                guard scale > 0, size.isFinite, size < 1e12 else { throw KernelError("scales must be positive and finite, got \(requestedScales)") }
                scales[axis] = scale
                sizes[axis] = Int(size)
            }
        } else {
            throw KernelError("needs scales or sizes")
        }
        try Layout.check(sizes, x.dtype)
        for axis in axes where x.shape[axis] == 0 && sizes[axis] > 0 {
            throw KernelError("cannot resize an empty axis \(axis) to \(sizes[axis])")
        }
        if let gathered = nearestGather(x, sizes: sizes, scales: scales, axes: axes, roi: roi, options: options) { return gathered }
        var values = try x.doubles()
        var shape = x.shape
        for (position, axis) in axes.enumerated() where sizes[axis] != shape[axis] || scales[axis] != 1 || options.coordinates == "tf_crop_and_resize" {
            let bounds = roi.count == 2 * axes.count ? (roi[position], roi[position + axes.count]) : (0.0, 1.0)
            values = resample(values, shape: shape, axis: axis, output: sizes[axis], scale: scales[axis], options: options, roi: bounds)
            shape[axis] = sizes[axis]
        }
        if x.dtype.isInteger { values = values.map { $0.rounded() } }
        return try Tensor(shape: shape, scalars: values).converted(to: x.dtype)
    }

    /// Nearest-mode resizing of float32 [N, C, H, W] along H and W only (the upsampling of
    /// detector and segmenter necks): each output copies the input element the same index maps
    /// as ``contributions(input:output:scale:options:roi:)`` pick. `nil` when the case is another.
    static func nearestGather(_ x: Tensor, sizes: [Int], scales: [Double], axes: [Int], roi: [Double], options: Options) -> Tensor? {
        guard options.mode == "nearest", options.coordinates != "tf_crop_and_resize", x.dtype == .float32, x.rank == 4,
              sizes[0] == x.shape[0], sizes[1] == x.shape[1], x.shape[2] > 0, x.shape[3] > 0
        else { return nil }
        let (height, width, outH, outW) = (x.shape[2], x.shape[3], sizes[2], sizes[3])
        func map(_ axis: Int, input: Int, output: Int) -> [Int]? {
            let position = axes.firstIndex(of: axis)
            let bounds = position.map { roi.count == 2 * axes.count ? (roi[$0], roi[$0 + axes.count]) : (0.0, 1.0) } ?? (0.0, 1.0)
            let terms = contributions(input: input, output: output, scale: scales[axis], options: options, roi: bounds)
            let indexes = terms.compactMap { $0.count == 1 ? $0[0].0 : nil }
            return indexes.count == output ? indexes : nil
        }
        guard let rowsFrom = map(2, input: height, output: outH), let columnsFrom = map(3, input: width, output: outW) else { return nil }
        let planes = x.shape[0] * x.shape[1]
        return x.withElements(as: Float.self) { input in
            Tensor.buildOverwriting(Float.self, shape: sizes) { out in
                let (source, target) = (UncheckedSendable(input), UncheckedSendable(out))
                ThreadPool.parallelFor(planes * outH, minimumChunk: max(1, 16_384 / max(outW, 1))) { range in
                    for row in range {
                        let (plane, oh) = (row / outH, row % outH)
                        let line = (plane * height + rowsFrom[oh]) * width
                        let start = row * outW
                        for ow in 0..<outW { target.value[start + ow] = source.value[line + columnsFrom[ow]] }
                    }
                }
            }
        }
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Resize") { context in
            var options = Options()
            options.mode = context.string("mode", "nearest")
            options.coordinates = context.string("coordinate_transformation_mode", context.opset < 11 ? "asymmetric" : "half_pixel")
            options.nearest = context.string("nearest_mode", context.opset < 11 ? "floor" : "round_prefer_floor")
            options.cubicA = Double(context.float("cubic_coeff_a", -0.75))
            options.excludeOutside = context.int("exclude_outside", 0) != 0
            options.extrapolation = Double(context.float("extrapolation_value", 0))
            options.antialias = context.int("antialias", 0) != 0
            let x = try context.input(0)
            if context.opset < 11 {
                return [try resize(x, scales: try context.input(1).doubles(), sizes: nil, roi: [], axes: nil, policy: "stretch", options: options)]
            }
            let roi = try context.optionalInput(1)?.doubles() ?? []
            let scales = try context.optionalInput(2)?.doubles()
            let sizes = try context.optionalInput(3)?.integers()
            return [try resize(x, scales: scales?.isEmpty == true ? nil : scales, sizes: sizes, roi: roi, axes: context.ints("axes"),
                               policy: context.string("keep_aspect_ratio_policy", "stretch"), options: options)]
        }
        registry.register("Upsample") { context in
            var options = Options()
            options.mode = context.string("mode", "nearest") == "bilinear" ? "linear" : context.string("mode", "nearest")
            options.coordinates = "asymmetric"
            options.nearest = "floor"
            let x = try context.input(0)
            let scales = try context.floats("scales").map { $0.map(Double.init) } ?? context.input(1).doubles()
            return [try resize(x, scales: scales, sizes: nil, roi: [], axes: nil, policy: "stretch", options: options)]
        }
    }
}
