import COctetKernels
import Foundation
import OctetGraph

/// Conv and ConvTranspose (any spatial rank, groups, dilations, padding) via im2col + GEMM; the
/// 2-D forms in Conv2DKernels.swift.
enum ConvKernels {
    /// Conv, with an activation folded in when the session fused one (``FusedActivation``: in
    /// the GEMM tiles' stores or on each chunk of output just written for 2-D convolutions, as
    /// a pass over the output otherwise).
    /// A fused Add's other input (``Fusion/fuseConvAdd``) comes as a fourth input: when it has
    /// the output's shape a 2-D convolution adds it itself, before the activation (in the GEMM
    /// tiles' stores, or over each chunk of output just written); otherwise (broadcasting, other
    /// ranks, depthwise) the Add's own kernel follows the convolution.
    static func conv(_ context: KernelContext) throws -> Tensor {
        try convolve(context, activation: FusedActivation(context), residual: context.inputs.count > 3 ? context.optionalInput(3) : nil)
    }

    /// Conv then Add(output, residual) then the activation (Relu, the Add's), as separate passes.
    private static func convolveThenAdd(_ context: KernelContext, residual: Tensor, activation: FusedActivation?) throws -> Tensor {
        var sum = try ArithmeticKernels.binary(try convolve(context, activation: nil, residual: nil), residual, .add)
        guard let activation else { return sum }
        if sum.dtype == .float32 {
            activation.apply(to: &sum)
            return sum
        }
        return try ActivationKernels.unary(sum, .relu)
    }

    /// The bias input as float32 values (zeros without one), zero-padded to a multiple of 16;
    /// converted once per session when it is a constant.
    private static func biasValues(_ context: KernelContext, filters: Int) throws -> [Float] {
        func convert() throws -> [Float] {
            var values = try context.optionalInput(2)?.converted(to: .float32).scalars(as: Float.self) ?? []
            values += [Float](repeating: 0, count: (filters + 15) / 16 * 16 - values.count)
            return values
        }
        guard context.isConstant(2) else { return try convert() }
        return try context.prepared("bias") { PreparedFloats(try convert()) }.values
    }

    /// x[n, c, i · stride, j · stride] for the output positions of a 1×1 window without padding.
    private static func subsample(_ x: Tensor, strides: [Int], output: [Int]) -> Tensor {
        let (planes, height, width) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        let (outH, outW) = (output[0], output[1])
        return x.withElements(as: Float.self) { input in
            Tensor.buildOverwriting(Float.self, shape: [x.shape[0], x.shape[1], outH, outW]) { out in
                guard let inBase = input.baseAddress, let outBase = out.baseAddress else { return }
                let (source, target) = (UnsafeSendablePointer(pointer: inBase), UnsafeSendableMutablePointer(pointer: outBase))
                ThreadPool.parallelFor(planes, minimumChunk: max(1, 16_384 / max(outH * outW, 1))) { range in
                    octet_subsample_planes(source.pointer + range.lowerBound * height * width, range.count, Int32(height), Int32(width),
                                           Int32(strides[0]), Int32(strides[1]), Int32(outH), Int32(outW),
                                           target.pointer + range.lowerBound * outH * outW)
                }
            }
        }
    }

    private static func convolve(_ context: KernelContext, activation: FusedActivation?, residual: Tensor?) throws -> Tensor {
        let xOriginal = try context.input(0)
        let x = try xOriginal.converted(to: .float32)
        let w = try context.input(1).converted(to: .float32)
        guard x.rank >= 3, w.rank == x.rank else { throw KernelError("X \(x.shape) and W \(w.shape) must have the same rank ≥ 3") }
        let group = context.int("group", 1)
        let (batch, channels) = (x.shape[0], x.shape[1])
        let filters = w.shape[0]
        guard group > 0, channels % group == 0, filters % group == 0, w.shape[1] == channels / group else {
            throw KernelError("W \(w.shape) does not match \(channels) input channels in \(group) group(s)")
        }
        let kernel = context.ints("kernel_shape") ?? Array(w.shape[2...])
        guard kernel == Array(w.shape[2...]) else { throw KernelError("kernel_shape \(kernel) does not match W \(w.shape)") }
        if let bias = context.optionalInput(2), bias.elementCount != filters {
            throw KernelError("B holds \(bias.elementCount) values but W has \(filters) filters")
        }
        let geometry = try context.prepared("geometry") { GeometryCache() }.geometry(input: x.shape[2...], kernel: kernel) {
            try ConvGeometry(context: context, input: Array(x.shape[2...]), kernel: kernel)
        }
        let depthwise = kernel.count == 2 && group == channels && group > 1
        if let residual, depthwise || kernel.count != 2 || xOriginal.dtype != .float32 || residual.dtype != .float32
            || residual.shape != [batch, filters] + geometry.output {
            return try convolveThenAdd(context, residual: residual, activation: activation)
        }
        if depthwise {
            let blocked = context.isConstant(1) && filters == channels && octet_kernels_level() >= 2
                ? context.prepared("depthwise blocks") { DepthwiseBlocks(w: w) } : nil
            return try depthwise2d(x: x, w: w, bias: try biasValues(context, filters: filters), geometry: geometry, blocked: blocked,
                                   activation: activation)
                .converted(to: xOriginal.dtype)
        }
        if kernel.count == 2 {
            var (x, geometry) = (x, geometry)
            if kernel == [1, 1], geometry.strides != [1, 1], (geometry.padBegin + geometry.padEnd).allSatisfy({ $0 == 0 }) {
                // A strided 1×1 convolution (a ResNet downsampling shortcut) reads one input
                // position in stride²: gathered first, they go through the stride-1 path instead
                // of phase planes or im2col rows over the whole image.
                x = subsample(x, strides: geometry.strides, output: geometry.output)
                geometry = ConvGeometry(pointwiseOver: geometry.output)
            }
            // Float32 filters packed once stand in for W from then on (``conv2d`` reads only its
            // shape), so the session may release W; converted ones are read every run.
            let packed = !context.isConstant(1) || xOriginal.dtype != .float32 ? PackedFilters(w: w, group: group)
                : try context.input(1).dtype == .float32 ? context.prepared("packed filters", replacing: 1) { PackedFilters(w: w, group: group) }
                : context.prepared("packed filters") { PackedFilters(w: w, group: group) }
            return try conv2d(x: x, w: w, filters: packed, bias: try biasValues(context, filters: filters), group: group, geometry: geometry,
                              activation: activation, residual: residual).converted(to: xOriginal.dtype)
        }
        let indices = geometry.inputIndices()
        let (kernelVolume, outputVolume, inputVolume) = (geometry.kernelVolume, geometry.outputVolume, geometry.inputVolume)
        let groupChannels = channels / group
        let groupFilters = filters / group
        let rows = groupChannels * kernelVolume
        var output = Tensor(zeros: .float32, shape: [batch, filters] + geometry.output)
        let bias = try context.optionalInput(2)?.converted(to: .float32).scalars(as: Float.self)
        x.withElements(as: Float.self) { input in
            w.withElements(as: Float.self) { weights in
                output.withMutableElements(as: Float.self) { out in
                    guard let inBase = input.baseAddress, let wBase = weights.baseAddress, let outBase = out.baseAddress else { return }
                    let columns = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * outputVolume, 1))
                    defer { columns.deallocate() }
                    for n in 0..<batch {
                        for g in 0..<group {
                            let image = inBase + (n * channels + g * groupChannels) * inputVolume
                            for c in 0..<groupChannels {
                                for kernelIndex in 0..<kernelVolume {
                                    let row = columns + (c * kernelVolume + kernelIndex) * outputVolume
                                    let plane = image + c * inputVolume
                                    let map = kernelIndex * outputVolume
                                    for o in 0..<outputVolume {
                                        let source = indices[map + o]
                                        row[o] = source < 0 ? 0 : plane[Int(source)]
                                    }
                                }
                            }
                            GEMM.multiply(m: groupFilters, n: outputVolume, k: rows, a: wBase + g * groupFilters * rows,
                                          b: columns, c: outBase + (n * filters + g * groupFilters) * outputVolume)
                        }
                        if let bias {
                            for f in 0..<filters {
                                let plane = outBase + (n * filters + f) * outputVolume
                                for o in 0..<outputVolume { plane[o] += bias[f] }
                            }
                        }
                    }
                }
            }
        }
        activation?.apply(to: &output)
        return try output.converted(to: xOriginal.dtype)
    }

    /// ConvTranspose: Wᵀ · X by the GEMM, then the columns scattered onto the output (in C for
    /// 2-D, through an index map otherwise), then the bias.
    static func convTranspose(_ context: KernelContext) throws -> Tensor {
        let xOriginal = try context.input(0)
        let x = try xOriginal.converted(to: .float32)
        let w = try context.input(1).converted(to: .float32)
        guard x.rank >= 3, w.rank == x.rank else { throw KernelError("X \(x.shape) and W \(w.shape) must have the same rank ≥ 3") }
        let rank = x.rank - 2
        let group = context.int("group", 1)
        let (batch, channels) = (x.shape[0], x.shape[1])
        guard group > 0, channels % group == 0, w.shape[0] == channels else {
            throw KernelError("W \(w.shape) does not match \(channels) input channels")
        }
        let groupFilters = w.shape[1]
        let filters = try Size.multiply(groupFilters, group, for: "filters × group")
        let kernel = context.ints("kernel_shape") ?? Array(w.shape[2...])
        let strides = context.ints("strides") ?? [Int](repeating: 1, count: rank)
        let dilations = context.ints("dilations") ?? [Int](repeating: 1, count: rank)
        let outputPadding = context.ints("output_padding") ?? [Int](repeating: 0, count: rank)
        guard kernel == Array(w.shape[2...]), strides.count == rank, dilations.count == rank, outputPadding.count == rank,
              strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 }), outputPadding.allSatisfy({ $0 >= 0 }) else {
            throw KernelError("kernel_shape, strides, dilations and output_padding do not fit W \(w.shape) (rank \(rank))")
        }
        guard (kernel + strides + dilations + outputPadding + (context.ints("pads") ?? []) + (context.ints("output_shape") ?? [])).allSatisfy({ (Int(Int32.min)...Int(Int32.max)).contains($0) }) else {
            throw KernelError("kernel_shape, strides, dilations, pads, output_padding and output_shape must each be below 2^31")
        }
        if let bias = context.optionalInput(2), bias.elementCount != filters {
            throw KernelError("B holds \(bias.elementCount) values but the output has \(filters) channels")
        }
        let input = Array(x.shape[2...])
        var pads = context.ints("pads") ?? [Int](repeating: 0, count: 2 * rank)
        let autoPad = context.string("auto_pad", "NOTSET")
        var outputShape: [Int]
        let explicitShape = context.ints("output_shape").map { Array($0.suffix(rank)) }
        guard pads.count == 2 * rank, explicitShape.map({ $0.count == rank }) ?? true else {
            throw KernelError("pads \(pads) and output_shape \(explicitShape ?? []) must have \(2 * rank) and \(rank) entries")
        }
        /// stride·(input − 1) + output_padding + (kernel − 1)·dilation + 1, checked.
        func natural(_ axis: Int) throws -> Int {
            let what = "the output size of spatial axis \(axis)"
            return try Size.add(Size.multiply(strides[axis], input[axis] - 1, for: what), outputPadding[axis],
                                Size.multiply(kernel[axis] - 1, dilations[axis], for: what), 1, for: what)
        }
        if explicitShape != nil || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            let target = try explicitShape ?? zip(input, strides).map { try Size.multiply($0, $1, for: "input × stride") }
            for axis in 0..<rank {
                let total = try Size.subtract(natural(axis), target[axis], for: "the padding of spatial axis \(axis)")
                // SAME_UPPER puts the extra padding at the end; otherwise at the beginning. A
                // negative total (output_shape larger than the natural size) extends the end.
                let half = total / 2
                pads[axis] = total < 0 ? 0 : (autoPad == "SAME_UPPER" ? half : total - half)
                pads[axis + rank] = total - pads[axis]
            }
            outputShape = target
        } else {
            if autoPad == "VALID" { pads = [Int](repeating: 0, count: 2 * rank) }
            outputShape = try (0..<rank).map { axis in
                try Size.subtract(natural(axis), Size.add(pads[axis], pads[axis + rank], for: "pads"), for: "the output size of spatial axis \(axis)")
            }
        }
        guard outputShape.allSatisfy({ $0 >= 0 }) else {
            throw KernelError("pads \(pads) give an invalid output shape \(outputShape)")
        }
        try Layout.check([batch, filters] + outputShape, .float32)
        let kernelVolume = kernel.reduce(1, *)
        let inputVolume = input.reduce(1, *)
        let outputVolume = outputShape.reduce(1, *)
        let groupChannels = channels / group
        let rows = groupFilters * kernelVolume
        // For each (kernel position, input position): the output index it adds to, or -1.
        let kernelStrides = Layout.strides(kernel)
        let inputStrides = Layout.strides(input)
        let outputStrides = Layout.strides(outputShape)
        // 2-D: the C scatter (octet_col2im_add_2d) computes the targets itself.
        let planar = rank == 2
        var targets = [Int32](repeating: -1, count: planar ? 0 : kernelVolume * inputVolume)
        for kernelIndex in 0..<(planar ? 0 : kernelVolume) {
            for inputIndex in 0..<inputVolume {
                var flat = 0
                var inside = true
                for axis in 0..<rank {
                    let k = kernelIndex / kernelStrides[axis] % kernel[axis]
                    let i = inputIndex / inputStrides[axis] % input[axis]
                    let coordinate = i * strides[axis] + k * dilations[axis] - pads[axis]
                    if coordinate < 0 || coordinate >= outputShape[axis] { inside = false; break }
                    flat += coordinate * outputStrides[axis]
                }
                if inside { targets[kernelIndex * inputVolume + inputIndex] = Int32(flat) }
            }
        }
        var output = Tensor(zeros: .float32, shape: [batch, filters] + outputShape)
        let bias = try context.optionalInput(2)?.converted(to: .float32).scalars(as: Float.self)
        // W_g is [groupChannels, rows]; its transpose times X_g gives the columns to scatter.
        let wT = try Layout.transpose(w.unsafeReshaped([group, groupChannels, rows]), [0, 2, 1])
        x.withElements(as: Float.self) { inputValues in
            wT.withElements(as: Float.self) { weights in
                output.withMutableElements(as: Float.self) { out in
                    guard let inBase = inputValues.baseAddress, let wBase = weights.baseAddress, let outBase = out.baseAddress else { return }
                    let columns = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * inputVolume, 1))
                    defer { columns.deallocate() }
                    for n in 0..<batch {
                        for g in 0..<group {
                            GEMM.multiply(m: rows, n: inputVolume, k: groupChannels, a: wBase + g * rows * groupChannels,
                                          b: inBase + (n * channels + g * groupChannels) * inputVolume, c: columns)
                            if planar {
                                octet_col2im_add_2d(columns, Int32(groupFilters), Int32(input[0]), Int32(input[1]), Int32(kernel[0]), Int32(kernel[1]),
                                                    Int32(strides[0]), Int32(strides[1]), Int32(dilations[0]), Int32(dilations[1]),
                                                    Int32(pads[0]), Int32(pads[1]), outBase + (n * filters + g * groupFilters) * outputVolume,
                                                    Int32(outputShape[0]), Int32(outputShape[1]))
                                continue
                            }
                            for f in 0..<groupFilters {
                                let plane = outBase + (n * filters + g * groupFilters + f) * outputVolume
                                for kernelIndex in 0..<kernelVolume {
                                    let row = columns + (f * kernelVolume + kernelIndex) * inputVolume
                                    let map = kernelIndex * inputVolume
                                    for i in 0..<inputVolume where targets[map + i] >= 0 { plane[Int(targets[map + i])] += row[i] }
                                }
                            }
                        }
                        if let bias {
                            for f in 0..<filters {
                                let plane = outBase + (n * filters + f) * outputVolume
                                for o in 0..<outputVolume { plane[o] += bias[f] }
                            }
                        }
                    }
                }
            }
        }
        return try output.converted(to: xOriginal.dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Conv") { [try conv($0)] }
        registry.register("ConvTranspose") { [try convTranspose($0)] }
    }
}
