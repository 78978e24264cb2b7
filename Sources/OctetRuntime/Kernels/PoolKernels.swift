import COctetKernels
import Foundation
import OctetGraph

/// MaxPool, AveragePool, LpPool and their Global forms.
enum PoolKernels {
    static func pool(_ context: KernelContext, max isMax: Bool) throws -> [Tensor] {
        let original = try context.input(0)
        let x = try original.converted(to: .float32)
        guard x.rank >= 3, let kernel = context.ints("kernel_shape"), kernel.count == x.rank - 2 else {
            throw KernelError("needs an input of rank ≥ 3 and kernel_shape with one entry per spatial axis")
        }
        let geometry = try context.prepared("geometry") { GeometryCache() }.geometry(input: x.shape[2...], kernel: kernel) {
            try ConvGeometry(context: context, input: Array(x.shape[2...]), kernel: kernel, ceilMode: context.int("ceil_mode", 0) != 0)
        }
        if kernel.count == 2, context.node.outputs.count < 2 || context.node.outputs[1].isEmpty {
            let includePad = context.int("count_include_pad", 0) != 0
            return [try pool2d(x, geometry: geometry, max: isMax, includePad: includePad).converted(to: original.dtype)]
        }
        let indices = geometry.inputIndices()
        let (kernelVolume, outputVolume, inputVolume) = (geometry.kernelVolume, geometry.outputVolume, geometry.inputVolume)
        let planes = x.shape[0] * x.shape[1]
        let includePad = context.int("count_include_pad", 0) != 0
        // With count_include_pad, a window counts its positions inside the padded input (not
        // those past the end padding that ceil_mode adds).
        var paddedCounts = [Float](repeating: 0, count: outputVolume)
        if includePad && !isMax {
            let rank = kernel.count
            let outputStrides = Layout.strides(geometry.output)
            for o in 0..<outputVolume {
                var count = 1
                for axis in 0..<rank {
                    let start = o / outputStrides[axis] % geometry.output[axis] * geometry.strides[axis] - geometry.padBegin[axis]
                    var inside = 0
                    for k in 0..<kernel[axis] {
                        let position = start + k * geometry.dilations[axis]
                        if position >= -geometry.padBegin[axis] && position < geometry.input[axis] + geometry.padEnd[axis] { inside += 1 }
                    }
                    count *= inside
                }
                paddedCounts[o] = Float(count)
            }
        }
        // storage_order=1 reports argmax positions in column-major order within each plane.
        let columnMajor = context.int("storage_order", 0) != 0
        let rowStrides = Layout.strides(geometry.input)
        let columnStrides = Layout.strides(geometry.input.reversed()).reversed() as [Int]
        func storageIndex(_ flat: Int) -> Int {
            guard columnMajor else { return flat }
            var remainder = flat
            var index = 0
            for axis in 0..<rowStrides.count {
                index += remainder / rowStrides[axis] * columnStrides[axis]
                remainder %= rowStrides[axis]
            }
            return index
        }
        var output = Tensor(zeros: .float32, shape: Array(x.shape[..<2]) + geometry.output)
        var argmax = [Int64](repeating: 0, count: isMax ? planes * outputVolume : 0)
        x.withElements(as: Float.self) { input in
            output.withMutableElements(as: Float.self) { out in
                guard let base = input.baseAddress else { return }
                for plane in 0..<planes {
                    let source = base + plane * inputVolume
                    for o in 0..<outputVolume {
                        var best = -Float.infinity
                        var bestIndex = -1
                        var total: Float = 0
                        var count = 0
                        for k in 0..<kernelVolume {
                            let index = indices[k * outputVolume + o]
                            guard index >= 0 else { continue }
                            let value = source[Int(index)]
                            if isMax {
                                if value > best || bestIndex < 0 { best = value; bestIndex = Int(index) }
                            } else {
                                total += value
                                count += 1
                            }
                        }
                        if isMax {
                            out[plane * outputVolume + o] = best
                            argmax[plane * outputVolume + o] = Int64(plane * inputVolume + storageIndex(max(bestIndex, 0)))
                        } else {
                            let divisor = includePad ? paddedCounts[o] : Float(count)
                            out[plane * outputVolume + o] = divisor > 0 ? total / divisor : 0
                        }
                    }
                }
            }
        }
        let result = try output.converted(to: original.dtype)
        if isMax && context.node.outputs.count > 1 {
            return [result, Tensor(shape: output.shape, scalars: argmax)]
        }
        return [result]
    }

    /// 2-D max or average pooling with direct window loops (no index map).
    static func pool2d(_ x: Tensor, geometry g: ConvGeometry, max isMax: Bool, includePad: Bool) -> Tensor {
        let planes = x.shape[0] * x.shape[1]
        let (height, width) = (g.input[0], g.input[1])
        let (outH, outW) = (g.output[0], g.output[1])
        // Plain locals: array reads in the inner loop would cost bounds checks and retains.
        let (kernelH, kernelW, strideH, strideW) = (g.kernel[0], g.kernel[1], g.strides[0], g.strides[1])
        let (padTop, padLeft, padBottom, padRight) = (g.padBegin[0], g.padBegin[1], g.padEnd[0], g.padEnd[1])
        let (dilationH, dilationW) = (g.dilations[0], g.dilations[1])
        return x.withElements(as: Float.self) { input in
            Tensor.build(Float.self, shape: Array(x.shape[..<2]) + g.output) { out in
                guard let inBase = input.baseAddress, let outBase = out.baseAddress else { return }
                let source = UnsafeSendablePointer(pointer: inBase)
                let target = UnsafeSendableMutablePointer(pointer: outBase)
                let scratchFloats = isMax ? octet_depthwise_scratch(Int32(outH), Int32(outW), Int32(kernelH), Int32(kernelW), Int32(strideH),
                                                                    Int32(strideW), Int32(dilationH), Int32(dilationW)) : 0
                ThreadPool.parallelFor(planes, minimumChunk: max(1, 4096 / max(outH * outW, 1))) { range in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchFloats, 1))
                    defer { scratch.deallocate() }
                    for plane in range {
                        let image = source.pointer + plane * height * width
                        let result = target.pointer + plane * outH * outW
                        if isMax {
                            octet_maxpool_plane(image, Int32(height), Int32(width), Int32(kernelH), Int32(kernelW), Int32(strideH),
                                                Int32(strideW), Int32(dilationH), Int32(dilationW), Int32(padTop), Int32(padLeft),
                                                result, Int32(outH), Int32(outW), scratch)
                            continue
                        }
                        for oh in 0..<outH {
                            let top = oh * strideH - padTop
                            for ow in 0..<outW {
                                let left = ow * strideW - padLeft
                                var best = -Float.infinity
                                var total: Float = 0
                                var count = 0
                                var padded = 0
                                for ki in 0..<kernelH {
                                    let ih = top + ki * dilationH
                                    let rowInPad = ih >= -padTop && ih < height + padBottom
                                    for kj in 0..<kernelW {
                                        let iw = left + kj * dilationW
                                        if rowInPad && iw >= -padLeft && iw < width + padRight { padded += 1 }
                                        guard ih >= 0 && ih < height && iw >= 0 && iw < width else { continue }
                                        let value = image[ih * width + iw]
                                        if isMax {
                                            if value > best || count == 0 { best = value }
                                        } else {
                                            total += value
                                        }
                                        count += 1
                                    }
                                }
                                let divisor = Float(includePad ? padded : count)
                                result[oh * outW + ow] = isMax ? best : (divisor > 0 ? total / divisor : 0)
                            }
                        }
                    }
                }
            }
        }
    }

    static func global(_ context: KernelContext, max isMax: Bool) throws -> Tensor {
        let original = try context.input(0)
        let x = try original.converted(to: .float32)
        guard x.rank >= 3 else { throw KernelError("needs an input of rank ≥ 3") }
        let planes = x.shape[0] * x.shape[1]
        let size = x.shape[2...].reduce(1, *)
        let shape = Array(x.shape[..<2]) + [Int](repeating: 1, count: x.rank - 2)
        let result = x.withElements(as: Float.self) { input in
            Tensor.build(Float.self, shape: shape) { out in
                if !isMax, let base = input.baseAddress, let target = out.baseAddress {
                    let (source, sums) = (UnsafeSendablePointer(pointer: base), UnsafeSendableMutablePointer(pointer: target))
                    ThreadPool.parallelFor(planes, minimumChunk: max(1, 16_384 / max(size, 1))) { range in
                        octet_sum_rows_f32(source.pointer + range.lowerBound * size, sums.pointer + range.lowerBound, range.count, size,
                                           1.0 / Double(max(size, 1)))
                    }
                    return
                }
                for plane in 0..<planes {
                    let values = input[plane * size..<(plane + 1) * size]
                    out[plane] = isMax ? (values.max() ?? -.infinity) : values.reduce(0, +) / Float(max(size, 1))
                }
            }
        }
        return try result.converted(to: original.dtype)
    }

    /// LpPool: (Σ |x|^p)^(1/p) over each window (padding contributes nothing); p defaults to 2.
    static func lpPool(_ context: KernelContext) throws -> Tensor {
        let original = try context.input(0)
        guard original.dtype.isFloatingPoint, original.rank >= 3, let kernel = context.ints("kernel_shape"),
              kernel.count == original.rank - 2 else {
            throw KernelError("needs a floating-point input of rank ≥ 3 and kernel_shape with one entry per spatial axis")
        }
        let p = Double(context.float("p", 2))
        let geometry = try ConvGeometry(context: context, input: Array(original.shape[2...]), kernel: kernel,
                                        ceilMode: context.int("ceil_mode", 0) != 0)
        let indices = geometry.inputIndices()
        let values = try original.doubles()
        let planes = original.shape[0] * original.shape[1]
        var out = [Double](repeating: 0, count: planes * geometry.outputVolume)
        for plane in 0..<planes {
            let base = plane * geometry.inputVolume
            for o in 0..<geometry.outputVolume {
                var total = 0.0
                for k in 0..<geometry.kernelVolume {
                    let index = indices[k * geometry.outputVolume + o]
                    if index >= 0 { total += Foundation.pow(Swift.abs(values[base + Int(index)]), p) }
                }
                out[plane * geometry.outputVolume + o] = Foundation.pow(total, 1 / p)
            }
        }
        return try Tensor(shape: Array(original.shape[..<2]) + geometry.output, scalars: out).converted(to: original.dtype)
    }

    /// GlobalLpPool: (Σ |x|^p)^(1/p) over each plane.
    static func globalLpPool(_ context: KernelContext) throws -> Tensor {
        let x = try context.input(0)
        guard x.dtype.isFloatingPoint, x.rank >= 3 else { throw KernelError("needs a floating-point input of rank ≥ 3") }
        let p = Double(context.float("p", 2))
        let values = try x.doubles()
        let size = x.shape[2...].reduce(1, *)
        let planes = x.shape[0] * x.shape[1]
        let norms = (0..<planes).map { plane in
            Foundation.pow(values[plane * size..<(plane + 1) * size].reduce(0) { $0 + Foundation.pow(Swift.abs($1), p) }, 1 / p)
        }
        let shape = Array(x.shape[..<2]) + [Int](repeating: 1, count: x.rank - 2)
        return try Tensor(shape: shape, scalars: norms).converted(to: x.dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("LpPool") { [try lpPool($0)] }
        registry.register("GlobalLpPool") { [try globalLpPool($0)] }
        registry.register("MaxPool") { try pool($0, max: true) }
        registry.register("AveragePool") { try pool($0, max: false) }
        registry.register("GlobalAveragePool") { [try global($0, max: false)] }
        registry.register("GlobalMaxPool") { [try global($0, max: true)] }
    }
}
