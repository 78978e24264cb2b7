import COctetKernels
import Foundation
import OctetGraph

/// Conv and ConvTranspose (any spatial rank, groups, dilations, padding) via im2col + GEMM.
enum ConvKernels {
    /// Conv, with an activation folded in when the session fused one (``FusedActivation``: in
    /// the GEMM tiles' stores or on each chunk of output just written for 2-D convolutions, as
    /// a pass over the output otherwise).
    static func conv(_ context: KernelContext) throws -> Tensor {
        try convolve(context, activation: FusedActivation(context))
    }

    private static func convolve(_ context: KernelContext, activation: FusedActivation?) throws -> Tensor {
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
        let geometry = try ConvGeometry(context: context, input: Array(x.shape[2...]), kernel: kernel)
        if kernel.count == 2 && group == channels && group > 1 {
            return try depthwise2d(x: x, w: w, bias: context.optionalInput(2), geometry: geometry, activation: activation)
                .converted(to: xOriginal.dtype)
        }
        if kernel.count == 2 {
            let filters = context.isConstant(1) && xOriginal.dtype == .float32
                ? context.prepared("packed filters") { PackedFilters(w: w, group: group) } : PackedFilters(w: w, group: group)
            return try conv2d(x: x, w: w, filters: filters, bias: context.optionalInput(2), group: group, geometry: geometry,
                              activation: activation).converted(to: xOriginal.dtype)
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

    /// 2-D convolution: the filters as packed GEMM micro-panels (once per session for constant
    /// weights), im2col as rows (C kernel) that the tiles read 16 columns at a time. With many
    /// output positions, each thread makes the rows of a chunk of positions (about 512 KB) and
    /// computes its tiles while they are in cache, so the buffer stays small whatever the image
    /// size; otherwise all rows are made once and the filters' row blocks are split over threads.
    /// A 1×1 stride-1 convolution reads the image itself; with AVX-512, other stride-1
    /// convolutions whose output rows fill their panels read a zero-padded copy of the image
    /// through per-tap offsets (implicit GEMM, no im2col).
    static func conv2d(x: Tensor, w: Tensor, filters packedFilters: PackedFilters, bias biasTensor: Tensor?, group: Int,
                       geometry: ConvGeometry, activation: FusedActivation? = nil) throws -> Tensor {
        // Relu goes into the tiles' stores; other activations run over each finished chunk.
        let relu = activation?.kind == .relu
        let after = relu ? nil : activation
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let filters = w.shape[0]
        let groupChannels = channels / group
        let groupFilters = filters / group
        let (outH, outW) = (geometry.output[0], geometry.output[1])
        let positions = outH * outW
        let rows = groupChannels * geometry.kernelVolume
        let panels = (positions + GEMM.panelWidth - 1) / GEMM.panelWidth
        let panelFloats = rows * GEMM.panelWidth
        let rowBlocks = (groupFilters + GEMM.tileRows - 1) / GEMM.tileRows
        // A 1×1 kernel with stride 1 and no padding reads the image as B itself (rows of
        // `positions`): no im2col, no packing, except for a last partial panel.
        let pointwise = geometry.kernel == [1, 1] && geometry.strides == [1, 1] && geometry.padBegin == [0, 0] && positions == height * width
        // Stride 1 with AVX-512: implicit GEMM over a zero-padded copy of the image (tiles read
        // their 16 inputs of each kernel tap in place, no im2col), when output rows fill most of
        // their 16-wide panels (a panel stays on one output row).
        let paddedH = height + geometry.padBegin[0] + geometry.padEnd[0]
        let paddedW = width + geometry.padBegin[1] + geometry.padEnd[1]
        let rowPanels = (outW + GEMM.panelWidth - 1) / GEMM.panelWidth
        let implicit = !pointwise && octet_kernels_level() >= 2 && geometry.strides == [1, 1]
            && (geometry.padBegin + geometry.padEnd).allSatisfy { $0 >= 0 } && outW * 20 >= rowPanels * GEMM.panelWidth * 17
        let offsets: [Int] = implicit ? (0..<groupChannels).flatMap { channel in
            (0..<geometry.kernel[0]).flatMap { ki in
                (0..<geometry.kernel[1]).map { kj in
                    channel * paddedH * paddedW + ki * geometry.dilations[0] * paddedW + kj * geometry.dilations[1]
                }
            }
        } : []
        let bias = try biasTensor?.converted(to: .float32).scalars(as: Float.self) ?? [Float](repeating: 0, count: filters)
        return x.withElements(as: Float.self) { input in
            bias.withUnsafeBufferPointer { biasBuffer in
                Tensor.buildOverwriting(Float.self, shape: [batch, filters, outH, outW]) { out in
                    guard let inBase = input.baseAddress, let outBase = out.baseAddress, let biasBase = biasBuffer.baseAddress
                    else { return }
                    let sharedInput = UnsafeSendablePointer(pointer: inBase)
                    let sharedBias = UnsafeSendablePointer(pointer: biasBase)
                    let sharedOut = UnsafeSendableMutablePointer(pointer: outBase)
                    for n in 0..<batch {
                        for g in 0..<group {
                            let image = sharedInput.pointer + (n * channels + g * groupChannels) * height * width
                            let a = packedFilters.groups[g]
                            let c = sharedOut.pointer + (n * filters + g * groupFilters) * positions
                            let rowBias = sharedBias.pointer + g * groupFilters
                            func pack(_ first: Int, _ last: Int, into buffer: UnsafeMutablePointer<Float>) {
                                octet_im2col_panels_2d(
                                    image, Int32(groupChannels), Int32(height), Int32(width),
                                    Int32(geometry.kernel[0]), Int32(geometry.kernel[1]), Int32(geometry.strides[0]), Int32(geometry.strides[1]),
                                    Int32(geometry.dilations[0]), Int32(geometry.dilations[1]), Int32(geometry.padBegin[0]), Int32(geometry.padBegin[1]),
                                    Int32(outH), Int32(outW), Int32(first), Int32(last), buffer)
                            }
                            /// The tiles of one panel whose B rows are `ldb` apart.
                            func tiles(panel: Int, b: UnsafePointer<Float>, ldb: Int, blocks: Range<Int>) {
                                let column = panel * GEMM.panelWidth
                                for block in blocks {
                                    let row = block * GEMM.tileRows
                                    octet_sgemm_tile_packed(Int32(min(GEMM.tileRows, groupFilters - row)), Int32(rows), a.block(block),
                                                            b, ldb, c + row * positions + column, positions,
                                                            Int32(min(GEMM.panelWidth, positions - column)), 0, rowBias + row, relu ? 1 : 0)
                                }
                            }
                            /// The activation over output columns (positions) of panels `range`, every filter.
                            func finish(panels range: Range<Int>) {
                                guard let after else { return }
                                let first = range.lowerBound * GEMM.panelWidth
                                let count = min(positions, range.upperBound * GEMM.panelWidth) - first
                                for filter in 0..<groupFilters { after.apply(c + filter * positions + first, count: count) }
                            }
                            if pointwise && positions == 1 {
                                // One position: a matrix-vector product per block of 12 filters.
                                for block in 0..<rowBlocks {
                                    let row = block * GEMM.tileRows
                                    octet_sgemv_packed(Int32(min(GEMM.tileRows, groupFilters - row)), Int32(rows), a.block(block), image, 1,
                                                       c + row, rowBias + row, relu ? 1 : 0)
                                }
                                finish(panels: 0..<1)
                            } else if pointwise {
                                let work = max(1, rows * GEMM.panelWidth * groupFilters)
                                ThreadPool.parallelFor(panels, minimumChunk: max(1, 131_072 / work)) { range in
                                    var partial: UnsafeMutablePointer<Float>?
                                    defer { partial?.deallocate() }
                                    // Eight panels at a time, so the activation finds their outputs in cache.
                                    for start in stride(from: range.lowerBound, to: range.upperBound, by: 8) {
                                        let group = start..<min(start + 8, range.upperBound)
                                        for panel in group {
                                            let column = panel * GEMM.panelWidth
                                            if column + GEMM.panelWidth <= positions {
                                                tiles(panel: panel, b: image + column, ldb: positions, blocks: 0..<rowBlocks)
                                            } else {
                                                let buffer = partial ?? UnsafeMutablePointer<Float>.allocate(capacity: panelFloats)
                                                partial = buffer
                                                pack(panel, panel + 1, into: buffer)
                                                tiles(panel: panel, b: buffer, ldb: GEMM.panelWidth, blocks: 0..<rowBlocks)
                                            }
                                        }
                                        finish(panels: group)
                                    }
                                }
                            } else if implicit {
                                let padded = UnsafeMutablePointer<Float>.allocate(capacity: groupChannels * paddedH * paddedW + GEMM.panelWidth)
                                defer { padded.deallocate() }
                                (padded + groupChannels * paddedH * paddedW).update(repeating: 0, count: GEMM.panelWidth)
                                let target = UnsafeSendableMutablePointer(pointer: padded)
                                ThreadPool.parallelFor(groupChannels, minimumChunk: max(1, 65_536 / max(paddedH * paddedW, 1))) { range in
                                    octet_pad_planes(image + range.lowerBound * height * width, Int32(range.count), Int32(height), Int32(width),
                                                     Int32(geometry.padBegin[0]), Int32(geometry.padBegin[1]), Int32(paddedH), Int32(paddedW),
                                                     target.pointer + range.lowerBound * paddedH * paddedW)
                                }
                                offsets.withUnsafeBufferPointer { offsetBuffer in
                                    guard let offsetBase = offsetBuffer.baseAddress else { return }
                                    let sharedOffsets = UnsafeSendablePointer(pointer: offsetBase)
                                    // Work units of one output row × one block of 12 filters.
                                    let work = max(1, rowPanels * panelFloats * GEMM.tileRows)
                                    ThreadPool.parallelFor(outH * rowBlocks, minimumChunk: max(1, 131_072 / work)) { range in
                                        for unit in range {
                                            let (oh, block) = (unit / rowBlocks, unit % rowBlocks)
                                            let row = block * GEMM.tileRows
                                            let count = min(GEMM.tileRows, groupFilters - row)
                                            for panel in 0..<rowPanels {
                                                let column = panel * GEMM.panelWidth
                                                _ = octet_sgemm_tile_offsets(Int32(count), Int32(rows), a.block(block),
                                                                             target.pointer + oh * paddedW + column, sharedOffsets.pointer,
                                                                             c + row * positions + oh * outW + column, positions,
                                                                             Int32(min(GEMM.panelWidth, outW - column)), rowBias + row, relu ? 1 : 0)
                                            }
                                            if let after {
                                                for filter in row..<(row + count) { after.apply(c + filter * positions + oh * outW, count: outW) }
                                            }
                                        }
                                    }
                                }
                            } else {
                                /// im2col rows for `count` positions from `first`, channels `range`, row stride `ldb`.
                                func columns(_ first: Int, _ count: Int, channels range: Range<Int>, ldb: Int, into buffer: UnsafeMutablePointer<Float>) {
                                    octet_im2col_rows_2d(
                                        image, Int32(groupChannels), Int32(height), Int32(width),
                                        Int32(geometry.kernel[0]), Int32(geometry.kernel[1]), Int32(geometry.strides[0]), Int32(geometry.strides[1]),
                                        Int32(geometry.dilations[0]), Int32(geometry.dilations[1]), Int32(geometry.padBegin[0]), Int32(geometry.padBegin[1]),
                                        Int32(outH), Int32(outW), first, Int32(count), Int32(range.lowerBound), Int32(range.upperBound), ldb, buffer)
                                }
                                if panels >= rowBlocks {
                                    // Chunks of panels whose im2col rows fit in about 512 KB, at least two per thread.
                                    let chunkPanels = max(1, min(131_072 / max(panelFloats, 1), panels / max(2 * ThreadPool.threads, 1)))
                                    let chunks = (panels + chunkPanels - 1) / chunkPanels
                                    let ldb = chunkPanels * GEMM.panelWidth
                                    let work = max(1, chunkPanels * panelFloats * groupFilters)
                                    ThreadPool.parallelFor(chunks, minimumChunk: max(1, 131_072 / work)) { range in
                                        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: rows * ldb)
                                        defer { buffer.deallocate() }
                                        for chunk in range {
                                            let firstPanel = chunk * chunkPanels
                                            let lastPanel = min(panels, firstPanel + chunkPanels)
                                            let first = firstPanel * GEMM.panelWidth
                                            columns(first, min(positions, lastPanel * GEMM.panelWidth) - first, channels: 0..<groupChannels, ldb: ldb, into: buffer)
                                            for panel in firstPanel..<lastPanel {
                                                tiles(panel: panel, b: buffer + (panel - firstPanel) * GEMM.panelWidth, ldb: ldb, blocks: 0..<rowBlocks)
                                            }
                                            finish(panels: firstPanel..<lastPanel)
                                        }
                                    }
                                } else {
                                    let ldb = panels * GEMM.panelWidth
                                    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * ldb, 1))
                                    defer { buffer.deallocate() }
                                    let shared = UnsafeSendableMutablePointer(pointer: buffer)
                                    let channelWork = max(1, geometry.kernelVolume * ldb)
                                    ThreadPool.parallelFor(groupChannels, minimumChunk: max(1, 16_384 / channelWork)) { range in
                                        columns(0, positions, channels: range, ldb: ldb, into: shared.pointer)
                                    }
                                    let tileWork = max(1, rows * GEMM.panelWidth * GEMM.tileRows * panels)
                                    ThreadPool.parallelFor(rowBlocks, minimumChunk: max(1, 131_072 / tileWork)) { blocks in
                                        for panel in 0..<panels {
                                            tiles(panel: panel, b: shared.pointer + panel * GEMM.panelWidth, ldb: ldb, blocks: blocks)
                                        }
                                        if let after {
                                            let first = blocks.lowerBound * GEMM.tileRows
                                            let last = min(groupFilters, blocks.upperBound * GEMM.tileRows)
                                            after.apply(c + first * positions, count: (last - first) * positions)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Depthwise 2-D convolution (one input channel per group): one C pass per plane over a
    /// zero-padded copy (scratch reused within each thread's planes), planes in parallel, a fused
    /// activation applied to each plane as it is finished.
    static func depthwise2d(x: Tensor, w: Tensor, bias biasTensor: Tensor?, geometry g: ConvGeometry,
                            activation: FusedActivation? = nil) throws -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let filters = w.shape[0]
        let multiplier = filters / channels
        let (outH, outW) = (g.output[0], g.output[1])
        let (kernelH, kernelW) = (g.kernel[0], g.kernel[1])
        // Plain locals: array reads in the inner loop would cost bounds checks and retains.
        let (strideH, strideW, padTop, padLeft) = (g.strides[0], g.strides[1], g.padBegin[0], g.padBegin[1])
        let (dilationH, dilationW) = (g.dilations[0], g.dilations[1])
        let bias = try biasTensor?.converted(to: .float32).scalars(as: Float.self) ?? [Float](repeating: 0, count: filters)
        return x.withElements(as: Float.self) { input in
            w.withElements(as: Float.self) { weights in
                Tensor.build(Float.self, shape: [batch, filters, outH, outW]) { out in
                    guard let inBase = input.baseAddress, let wBase = weights.baseAddress, let outBase = out.baseAddress else { return }
                    let (source, kernels, target) = (UnsafeSendablePointer(pointer: inBase), UnsafeSendablePointer(pointer: wBase),
                                                     UnsafeSendableMutablePointer(pointer: outBase))
                    let scratchFloats = octet_depthwise_scratch(Int32(outH), Int32(outW), Int32(kernelH), Int32(kernelW), Int32(strideH),
                                                                Int32(strideW), Int32(dilationH), Int32(dilationW))
                    ThreadPool.parallelFor(batch * filters, minimumChunk: max(1, 4096 / max(outH * outW * kernelH * kernelW, 1))) { range in
                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchFloats, 1))
                        defer { scratch.deallocate() }
                        for plane in range {
                            let (n, f) = (plane / filters, plane % filters)
                            let image = source.pointer + (n * channels + f / multiplier) * height * width
                            let kernel = kernels.pointer + f * kernelH * kernelW
                            let result = target.pointer + plane * outH * outW
                            octet_depthwise_plane(image, Int32(height), Int32(width), kernel, Int32(kernelH), Int32(kernelW),
                                                  Int32(strideH), Int32(strideW), Int32(dilationH), Int32(dilationW),
                                                  Int32(padTop), Int32(padLeft), bias[f], result, Int32(outH), Int32(outW), scratch)
                            activation?.apply(result, count: outH * outW)
                        }
                    }
                }
            }
        }
    }

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
