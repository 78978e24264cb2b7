import COctetKernels
import Foundation
import OctetGraph

/// 2-D convolutions: dense and grouped (GEMM tiles over packed filters), depthwise.
extension ConvKernels {
    /// 2-D convolution: the filters as packed GEMM micro-panels (once per session for constant
    /// weights), im2col as rows (C kernel) that the tiles read 16 columns at a time. With many
    /// output positions, each thread makes the rows of a chunk of positions (about 512 KB) and
    /// computes its tiles while they are in cache, so the buffer stays small whatever the image
    /// size; otherwise all rows are made once and the filters' row blocks are split over threads.
    /// A 1×1 stride-1 convolution packs the image's panels itself, no im2col (one position:
    /// matrix-vector products; ``pointwiseTiles`` otherwise). With AVX-512, other
    /// stride-1 convolutions and strided first convolutions read a zero-padded copy of the image
    /// (split into phase planes when strided) through per-tap offsets, panels of 16 positions
    /// across output-row ends (implicit GEMM, no im2col).
    ///   - residual: a tensor of the output's shape added before the activation (a fused Add): by
    ///     the tiles' stores, or, for implicit GEMM and matrix-vector products, over each chunk of
    ///     output just written.
    static func conv2d(x: Tensor, w: Tensor, filters packedFilters: PackedFilters, bias: [Float], group: Int,
                       geometry: ConvGeometry, activation: FusedActivation? = nil, residual: Tensor? = nil) throws -> Tensor {
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
        // A 1×1 kernel with stride 1 and no padding has the image as B (rows of `positions`):
        // no im2col, only packing (``pointwiseTiles``).
        let pointwise = geometry.kernel == [1, 1] && geometry.strides == [1, 1] && geometry.padBegin == [0, 0] && positions == height * width
        // With AVX-512: implicit GEMM over a zero-padded copy of the image (tiles read their 16
        // inputs of each kernel tap in place, no im2col). A strided convolution's copy is split
        // into phase planes (`octet_phase_planes`), where each tap is a stride-1 read; only for
        // short sums (a network's first convolution: with many channels the taps' rows spread
        // over the phases outgrow the cache and the im2col rows' order wins). A panel
        // holds 16 consecutive output positions, across the ends of output rows: one masked load
        // per output row it touches (``ImplicitPanels``), so no lanes stay empty whatever the
        // width. Rows of at least 6 (a panel touches at most 4); tiny images (7 × 7) keep im2col,
        // whose last panel takes the narrow kernel.
        let (strideH, strideW) = (geometry.strides[0], geometry.strides[1])
        let phaseH = (height + geometry.padBegin[0] + geometry.padEnd[0] + strideH - 1) / strideH
        let phaseW = (width + geometry.padBegin[1] + geometry.padEnd[1] + strideW - 1) / strideW
        let phasePlanes = groupChannels * strideH * strideW
        let implicit = !pointwise && octet_kernels_level() >= 2 && (strideH * strideW == 1 || rows <= 256)
            && (geometry.padBegin + geometry.padEnd).allSatisfy { $0 >= 0 } && outW >= 6
            && (positions % GEMM.panelWidth == 0 || positions >= 128)
        let offsets: [Int] = implicit ? (0..<groupChannels).flatMap { channel in
            (0..<geometry.kernel[0]).flatMap { ki in
                (0..<geometry.kernel[1]).map { kj in
                    let (row, column) = (ki * geometry.dilations[0], kj * geometry.dilations[1])
                    let phase = (channel * strideH + row % strideH) * strideW + column % strideW
                    return phase * phaseH * phaseW + row / strideH * phaseW + column / strideW
                }
            }
        } : []
        let segments = implicit ? ImplicitPanels(positions: positions, outW: outW, paddedW: phaseW) : nil
        // A 1×1 convolution of few filters over a large image reads B in place.
        let inPlace = pointwise && groupFilters < 192 && rows * positions > 262_144
        // Relu goes into the tiles' stores, after the residual when they add it; other
        // activations (and the residual otherwise) run over each finished chunk.
        let storedResidual = residual != nil && !implicit && !(pointwise && positions == 1)
        let relu = activation?.kind == .relu && (residual == nil || storedResidual)
        let postActivation = relu ? nil : activation
        return x.withElements(as: Float.self) { input in
            bias.withUnsafeBufferPointer { biasBuffer in Tensor.withOptionalElements(residual) { residualBase in
                Tensor.buildOverwriting(Float.self, shape: [batch, filters, outH, outW]) { out in
                    guard let inBase = input.baseAddress, let outBase = out.baseAddress, let biasBase = biasBuffer.baseAddress
                    else { return }
                    let after = ConvEpilogue(activation: postActivation, residual: storedResidual ? nil : residualBase, output: outBase)
                    let addendBase = storedResidual ? residualBase.map { UnsafeSendablePointer(pointer: $0) } : nil
                    let sharedInput = UnsafeSendablePointer(pointer: inBase)
                    let sharedBias = UnsafeSendablePointer(pointer: biasBase)
                    let sharedOut = UnsafeSendableMutablePointer(pointer: outBase)
                    // A batch that divides evenly over the threads: whole images per thread, each
                    // run as on one thread (sections started inside a running one stay on their
                    // thread), so no section boundary per image and layer.
                    let byImage = ThreadPool.threads > 1 && batch >= ThreadPool.threads && batch % ThreadPool.threads == 0
                    ThreadPool.parallelFor(byImage ? batch : 1) { images in
                    for n in byImage ? images : 0..<batch {
                        for g in 0..<group {
                            let image = sharedInput.pointer + (n * channels + g * groupChannels) * height * width
                            let a = packedFilters.groups[g]
                            let c = sharedOut.pointer + (n * filters + g * groupFilters) * positions
                            let rowBias = sharedBias.pointer + g * groupFilters
                            /// im2col rows for `count` positions from `first`, channels `range`, row stride `ldb`
                            /// (a packed panel when ldb is 16).
                            func columns(_ first: Int, _ count: Int, channels range: Range<Int>, ldb: Int, into buffer: UnsafeMutablePointer<Float>) {
                                octet_im2col_rows_2d(
                                    image, Int32(groupChannels), Int32(height), Int32(width),
                                    Int32(geometry.kernel[0]), Int32(geometry.kernel[1]), Int32(geometry.strides[0]), Int32(geometry.strides[1]),
                                    Int32(geometry.dilations[0]), Int32(geometry.dilations[1]), Int32(geometry.padBegin[0]), Int32(geometry.padBegin[1]),
                                    Int32(outH), Int32(outW), first, Int32(count), Int32(range.lowerBound), Int32(range.upperBound), ldb, buffer)
                            }
                            /// The tiles of panels `range` (B of the first at `b`, rows `ldb` apart, the next
                            /// panel `step` floats on), filter blocks `blocks`, two panels per tile.
                            func tiles(panels range: Range<Int>, b: UnsafePointer<Float>, ldb: Int, step: Int, blocks: Range<Int>) {
                                let column = range.lowerBound * GEMM.panelWidth
                                let lastWidth = min(GEMM.panelWidth, positions - (range.upperBound - 1) * GEMM.panelWidth)
                                for block in blocks {
                                    let row = block * GEMM.tileRows
                                    let target = c + row * positions + column
                                    octet_sgemm_panels(Int32(min(GEMM.tileRows, groupFilters - row)), Int32(rows), a.block(block), b, ldb, step,
                                                       Int32(range.count), target, positions, Int32(lastWidth), 0,
                                                       addendBase.map { $0.pointer + (target - sharedOut.pointer) }, rowBias + row, relu ? 1 : 0)
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
                                // One position: a matrix-vector product per block of 12 filters, blocks
                                // over threads when the filters are large (reading them is the cost).
                                ThreadPool.parallelFor(rowBlocks, minimumChunk: max(1, 16_384 / max(rows * GEMM.tileRows, 1))) { blocks in
                                    for block in blocks {
                                        let row = block * GEMM.tileRows
                                        octet_sgemv_packed(Int32(min(GEMM.tileRows, groupFilters - row)), Int32(rows), a.block(block), image, 1,
                                                           c + row, rowBias + row, relu ? 1 : 0)
                                    }
                                    let (first, last) = (blocks.lowerBound * GEMM.tileRows, min(groupFilters, blocks.upperBound * GEMM.tileRows))
                                    after?.apply(c + first, count: last - first)
                                }
                            } else if inPlace {
                                // Few filters over a large image: B read in place (packing it would be a
                                // pass over the whole image for 12 or 24 FMAs per value), in chunks of
                                // panels whose rows (about 128 KB) stay in L2 while every block of filters
                                // runs over them, so that each output row is written in long runs.
                                let chunkPanels = max(2, 32_768 / max(panelFloats, 1)) / 2 * 2
                                let chunks = (panels + chunkPanels - 1) / chunkPanels
                                let work = max(1, chunkPanels * panelFloats * groupFilters)
                                let full = positions / GEMM.panelWidth
                                ThreadPool.parallelFor(chunks, minimumChunk: max(1, 131_072 / work)) { range in
                                    var partial: UnsafeMutablePointer<Float>?
                                    defer { partial?.deallocate() }
                                    for chunk in range {
                                        let chunkRange = (chunk * chunkPanels)..<min(panels, (chunk + 1) * chunkPanels)
                                        let inside = chunkRange.lowerBound..<min(chunkRange.upperBound, full)
                                        if inside.upperBound < chunkRange.upperBound, partial == nil {
                                            let column = full * GEMM.panelWidth
                                            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: panelFloats)
                                            columns(column, positions - column, channels: 0..<groupChannels, ldb: GEMM.panelWidth, into: buffer)
                                            partial = buffer
                                        }
                                        for block in 0..<rowBlocks {
                                            if !inside.isEmpty {
                                                tiles(panels: inside, b: image + inside.lowerBound * GEMM.panelWidth, ldb: positions,
                                                      step: GEMM.panelWidth, blocks: block..<(block + 1))
                                            }
                                            if let partial, inside.upperBound < chunkRange.upperBound {
                                                tiles(panels: inside.upperBound..<chunkRange.upperBound, b: partial, ldb: GEMM.panelWidth,
                                                      step: panelFloats, blocks: block..<(block + 1))
                                            }
                                            guard let after else { continue }
                                            let first = chunkRange.lowerBound * GEMM.panelWidth
                                            let count = min(positions, chunkRange.upperBound * GEMM.panelWidth) - first
                                            for filter in (block * GEMM.tileRows)..<min(groupFilters, (block + 1) * GEMM.tileRows) {
                                                after.apply(c + filter * positions + first, count: count)
                                            }
                                        }
                                    }
                                }
                            } else if pointwise {
                                pointwiseTiles(image: image, positions: positions, rows: rows, filters: groupFilters,
                                               tiles: { block, range, b, ldb, step in
                                                   tiles(panels: range, b: b, ldb: ldb, step: step, blocks: block..<(block + 1))
                                               },
                                               finish: after.map { after in { first, count in after.apply(c + first, count: count) } })
                            } else if implicit {
                                let padded = UnsafeMutablePointer<Float>.allocate(capacity: max(phasePlanes * phaseH * phaseW, 1))
                                defer { padded.deallocate() }
                                let target = UnsafeSendableMutablePointer(pointer: padded)
                                let channelFloats = strideH * strideW * phaseH * phaseW
                                ThreadPool.parallelFor(groupChannels, minimumChunk: max(1, 4_096 / max(channelFloats, 1))) { range in
                                    octet_phase_planes(image + range.lowerBound * height * width, Int32(range.count), Int32(height), Int32(width),
                                                       Int32(geometry.padBegin[0]), Int32(geometry.padBegin[1]), Int32(strideH), Int32(strideW),
                                                       Int32(phaseH), Int32(phaseW), target.pointer + range.lowerBound * channelFloats)
                                }
                                offsets.withUnsafeBufferPointer { offsetBuffer in
                                    guard let offsetBase = offsetBuffer.baseAddress, let segments else { return }
                                    let sharedOffsets = UnsafeSendablePointer(pointer: offsetBase)
                                    // Work units of about one output row of panels × one block of 12 filters.
                                    // With few filters over wide rows (every filter's tiles re-reading more
                                    // padded rows than L1 holds), units of panels × every filter instead, the
                                    // input channels in chunks whose rows (≤ 48 KB) stay in L1 while all
                                    // blocks of filters run over them, later chunks adding to the sums in C.
                                    let taps = geometry.kernelVolume
                                    let chunkBudget = 12_288
                                    let chunked = groupFilters <= 48 && groupChannels * geometry.kernel[0] * phaseW > chunkBudget
                                    let chunkChannels = chunked ? max(1, min(groupChannels, chunkBudget / max(geometry.kernel[0] * phaseW, 1),
                                                                             chunkBudget / max(taps * GEMM.tileRows, 1))) : groupChannels
                                    let chunks = (groupChannels + chunkChannels - 1) / chunkChannels
                                    let unitBlocks = chunked ? rowBlocks : 1
                                    let unitsPerGroup = rowBlocks / unitBlocks
                                    let groupPanels = max(1, (outW + GEMM.panelWidth / 2) / GEMM.panelWidth)
                                    let panelGroups = (panels + groupPanels - 1) / groupPanels
                                    let work = max(1, groupPanels * panelFloats * GEMM.tileRows * unitBlocks)
                                    ThreadPool.parallelFor(panelGroups * unitsPerGroup, minimumChunk: max(1, 131_072 / work)) { range in
                                        for unit in range {
                                            let firstPanel = unit / unitsPerGroup * groupPanels
                                            let unitPanels = firstPanel..<min(panels, firstPanel + groupPanels)
                                            let blocks = (unit % unitsPerGroup * unitBlocks)..<(unit % unitsPerGroup * unitBlocks + unitBlocks)
                                            for chunk in 0..<chunks {
                                                let first = chunk * chunkChannels * taps
                                                let k = (min(groupChannels, first / taps + chunkChannels) - first / taps) * taps
                                                for block in blocks {
                                                    let row = block * GEMM.tileRows
                                                    for panel in unitPanels {
                                                        let column = panel * GEMM.panelWidth
                                                        _ = octet_sgemm_tile_segments(
                                                            Int32(min(GEMM.tileRows, groupFilters - row)), Int32(k), a.block(block) + first * GEMM.tileRows,
                                                            target.pointer, segments.count(panel), segments.starts(panel), segments.masks(panel),
                                                            sharedOffsets.pointer + first, c + row * positions + column, positions,
                                                            Int32(min(GEMM.panelWidth, positions - column)), chunk > 0 ? 1 : 0,
                                                            chunk == 0 ? rowBias + row : nil, chunk == chunks - 1 && relu ? 1 : 0)
                                                    }
                                                }
                                            }
                                            if let after {
                                                let firstPosition = unitPanels.lowerBound * GEMM.panelWidth
                                                let count = min(positions, unitPanels.upperBound * GEMM.panelWidth) - firstPosition
                                                let filters = (blocks.lowerBound * GEMM.tileRows)..<min(groupFilters, blocks.upperBound * GEMM.tileRows)
                                                for filter in filters { after.apply(c + filter * positions + firstPosition, count: count) }
                                            }
                                        }
                                    }
                                }
                            } else {
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
                                            for pair in stride(from: firstPanel, to: lastPanel, by: 2) {
                                                tiles(panels: pair..<min(pair + 2, lastPanel), b: buffer + (pair - firstPanel) * GEMM.panelWidth, ldb: ldb,
                                                      step: GEMM.panelWidth, blocks: 0..<rowBlocks)
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
                                        tiles(panels: 0..<panels, b: shared.pointer, ldb: ldb, step: GEMM.panelWidth, blocks: blocks)
                                        if let after {
                                            let first = blocks.lowerBound * GEMM.tileRows
                                            let last = min(groupFilters, blocks.upperBound * GEMM.tileRows)
                                            after.apply(c + first * positions, count: (last - first) * positions)
                                        }
                                    }
                                }
                            }
                        }
                    } }
                }
            } }
        }
    }

    /// The tiles of a 1×1 stride-1 convolution over `positions` columns of the image (B, `rows`
    /// rows of `positions`), its panels packed into contiguous k × 16 blocks first: read in place,
    /// the 16 floats of each row sit a whole plane apart, which the prefetchers do not follow.
    /// Panels go in chunks of about 512 KB (an L2's share); within a chunk every block of 12
    /// filters runs over all its panels, so each output row is written in one sequential run.
    /// Chunks are split over threads (each packing its own). With fewer than 8 panels per
    /// thread (7 × 7 and 14 × 14 images, rows a few hundred floats apart) the filter blocks are
    /// split instead, B read in place but for a partial last panel: one parallel section, where
    /// packing first would need a second. Each output is summed by one tile in a fixed order
    /// whatever the split.
    /// - Parameters:
    ///   - tiles: computes the tiles of filter block `block` over the panels `range`, the first at
    ///     `b`, B's rows `ldb` apart and the next panel `step` floats on.
    ///   - finish: applies the activation to `count` outputs from offset `first` (filter-major).
    static func pointwiseTiles(image: UnsafePointer<Float>, positions: Int, rows: Int, filters: Int,
                               tiles: (Int, Range<Int>, UnsafePointer<Float>, Int, Int) -> Void, finish: ((Int, Int) -> Void)?) {
        let width = GEMM.panelWidth
        let panels = (positions + width - 1) / width
        let panelFloats = rows * width
        let rowBlocks = (filters + GEMM.tileRows - 1) / GEMM.tileRows
        let source = UnsafeSendablePointer(pointer: image)
        func pack(_ range: Range<Int>, into buffer: UnsafeMutablePointer<Float>) {
            let column = range.lowerBound * width
            octet_pack_panels(Int32(rows), source.pointer + column, positions, min(positions, range.upperBound * width) - column, buffer)
        }
        /// The finished outputs of filter block `block` over panels `range`.
        func done(_ block: Int, _ range: Range<Int>) {
            guard let finish else { return }
            let first = range.lowerBound * width
            let count = min(positions, range.upperBound * width) - first
            for filter in (block * GEMM.tileRows)..<min(filters, (block + 1) * GEMM.tileRows) { finish(filter * positions + first, count) }
        }
        let threads = ThreadPool.threads
        var chunkPanels = max(1, min(panels, 131_072 / max(panelFloats, 1)))
        var chunks = (panels + chunkPanels - 1) / chunkPanels
        let work = max(1, panelFloats * GEMM.tileRows * rowBlocks)
        if threads == 1 || panels >= 8 * threads {
            // Whole chunks per thread, balanced: a multiple of the thread count.
            if threads > 1 {
                chunks = (chunks + threads - 1) / threads * threads
                chunkPanels = (panels + chunks - 1) / chunks
                chunks = (panels + chunkPanels - 1) / chunkPanels
            }
            ThreadPool.parallelFor(chunks, minimumChunk: max(1, 131_072 / (work * chunkPanels))) { range in
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: chunkPanels * panelFloats)
                defer { buffer.deallocate() }
                for chunk in range {
                    let panelRange = (chunk * chunkPanels)..<min(panels, (chunk + 1) * chunkPanels)
                    pack(panelRange, into: buffer)
                    for block in 0..<rowBlocks {
                        tiles(block, panelRange, buffer, width, panelFloats)
                        done(block, panelRange)
                    }
                }
            }
        } else {
            let full = positions / width
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: panelFloats)
            defer { partial.deallocate() }
            if full < panels { pack(full..<panels, into: partial) }
            let last = UnsafeSendablePointer(pointer: UnsafePointer(partial))
            ThreadPool.parallelFor(rowBlocks, minimumChunk: max(1, 131_072 / (panelFloats * GEMM.tileRows * panels))) { blocks in
                for block in blocks {
                    if full > 0 { tiles(block, 0..<full, source.pointer, positions, width) }
                    if full < panels { tiles(block, full..<panels, last.pointer, width, panelFloats) }
                    done(block, 0..<panels)
                }
            }
        }
    }

    /// Depthwise 2-D convolution (one input channel per group). With AVX-512 and one filter per
    /// channel, 16 channels at a time in vector lanes (``depthwise2dBlocked``; `blocked` holds
    /// the filters in that layout, made once per session for constant weights); otherwise one C
    /// pass per plane over a zero-padded copy (scratch reused within each thread's planes),
    /// planes in parallel, a fused activation applied to each plane as it is finished.
    static func depthwise2d(x: Tensor, w: Tensor, bias: [Float], geometry g: ConvGeometry,
                            blocked: DepthwiseBlocks? = nil, activation: FusedActivation? = nil) throws -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let filters = w.shape[0]
        let multiplier = filters / channels
        let (outH, outW) = (g.output[0], g.output[1])
        let (kernelH, kernelW) = (g.kernel[0], g.kernel[1])
        // Plain locals: array reads in the inner loop would cost bounds checks and retains.
        let (strideH, strideW, padTop, padLeft) = (g.strides[0], g.strides[1], g.padBegin[0], g.padBegin[1])
        let (dilationH, dilationW) = (g.dilations[0], g.dilations[1])
        if multiplier == 1 && octet_kernels_level() >= 2 {
            let blocks = blocked ?? DepthwiseBlocks(w: w)
            return depthwise2dBlocked(x: x, blocks: blocks, bias: bias, geometry: g, activation: activation)
        }
        return x.withElements(as: Float.self) { input in
            w.withElements(as: Float.self) { weights in
                Tensor.buildOverwriting(Float.self, shape: [batch, filters, outH, outW]) { out in
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

    /// Depthwise 2-D convolution with one filter per channel through `octet_depthwise16`: work
    /// units of (image, 16 channels, strip of output rows), the strip sized so that its blocked
    /// input stays near 96 KB; a fused activation applied in C to each strip while in cache.
    static func depthwise2dBlocked(x: Tensor, blocks: DepthwiseBlocks, bias: [Float], geometry g: ConvGeometry,
                                   activation: FusedActivation?) -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (outH, outW) = (g.output[0], g.output[1])
        let (kernelH, kernelW) = (g.kernel[0], g.kernel[1])
        let (strideH, strideW, padTop, padLeft) = (g.strides[0], g.strides[1], g.padBegin[0], g.padBegin[1])
        let (dilationH, dilationW) = (g.dilations[0], g.dilations[1])
        let blockedWidth = (outW - 1) * strideW + (kernelW - 1) * dilationW + 1
        let rowBytes = blockedWidth * 64 * strideH
        let rows = max(1, min(outH, 96 * 1024 / max(rowBytes, 1)))
        let strips = outH == 0 ? 0 : (outH + rows - 1) / rows
        let groups = (channels + 15) / 16
        var biasBlocks = bias
        if biasBlocks.count < groups * 16 { biasBlocks += [Float](repeating: 0, count: groups * 16 - biasBlocks.count) }
        let scratchFloats = octet_depthwise16_scratch(Int32(rows), Int32(outW), Int32(kernelH), Int32(kernelW), Int32(strideH),
                                                      Int32(strideW), Int32(dilationH), Int32(dilationW))
        let (planeIn, planeOut) = (height * width, outH * outW)
        return x.withElements(as: Float.self) { input in
            biasBlocks.withUnsafeBufferPointer { biasBuffer in
                Tensor.buildOverwriting(Float.self, shape: [batch, channels, outH, outW]) { out in
                    guard let inBase = input.baseAddress, let biasBase = biasBuffer.baseAddress, let outBase = out.baseAddress else { return }
                    let (source, biases, target) = (UnsafeSendablePointer(pointer: inBase), UnsafeSendablePointer(pointer: biasBase),
                                                    UnsafeSendableMutablePointer(pointer: outBase))
                    let kernels = UnsafeSendablePointer(pointer: UnsafePointer(blocks.baseAddress))
                    ThreadPool.parallelFor(batch * groups * strips, minimumChunk: 1) { range in
                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchFloats, 1))
                        defer { scratch.deallocate() }
                        for unit in range {
                            let (image, strip) = (unit / strips, unit % strips)
                            let (n, group) = (image / groups, image % groups)
                            let first = group * 16
                            let count = min(16, channels - first)
                            let rowFirst = strip * rows
                            let stripRows = min(rows, outH - rowFirst)
                            let result = target.pointer + (n * channels + first) * planeOut
                            octet_depthwise16(source.pointer + (n * channels + first) * planeIn, planeIn, Int32(count),
                                              Int32(height), Int32(width), kernels.pointer + group * 16 * kernelH * kernelW,
                                              biases.pointer + first, Int32(kernelH), Int32(kernelW), Int32(strideH), Int32(strideW),
                                              Int32(dilationH), Int32(dilationW), Int32(padTop), Int32(padLeft),
                                              result, planeOut, Int32(outW), Int32(rowFirst), Int32(stripRows),
                                              activation?.unaryOperation ?? -1, activation?.alpha ?? 0, activation?.beta ?? 0, scratch)
                        }
                    }
                }
            }
        }
    }
}

/// Depthwise filters `w[channels, 1, kh, kw]` in the layout of `octet_depthwise16`: per block of
/// 16 channels, kh·kw vectors of 16 weights (zero past the last channel).
final class DepthwiseBlocks: @unchecked Sendable {
    /// Per block of 16 channels, kh·kw vectors of 16 weights.
    let baseAddress: UnsafeMutablePointer<Float>

    /// Rearranges float32 filters `w[channels, 1, kh, kw]`.
    init(w: Tensor) {
        let channels = w.shape.first ?? 0
        let taps = channels == 0 ? 0 : w.elementCount / channels
        let count = max((channels + 15) / 16 * taps * 16, 1)
        baseAddress = UnsafeMutablePointer<Float>.allocate(capacity: count)
        baseAddress.initialize(repeating: 0, count: count)
        w.withElements(as: Float.self) { weights in
            for c in 0..<channels {
                for t in 0..<taps { baseAddress[((c / 16) * taps + t) * 16 + c % 16] = weights[c * taps + t] }
            }
        }
    }

    deinit { baseAddress.deallocate() }
}

/// For an implicit-GEMM convolution, the runs of lanes of each 16-position panel that fall on
/// one output row: run s of panel q starts (for lane 0) at starts[4q + s] in the padded image
/// and covers the lanes set in masks[4q + s] (`octet_sgemm_tile_segments`). Needs output rows
/// of at least 6 positions, so that a panel touches at most 4 rows.
final class ImplicitPanels: @unchecked Sendable {
    private let counts: [Int32]
    private let startStorage: UnsafeMutablePointer<Int>
    private let maskStorage: UnsafeMutablePointer<UInt16>

    /// Runs for `positions` output positions in rows of `outW`, the padded image's rows `paddedW` apart.
    init(positions: Int, outW: Int, paddedW: Int) {
        let panels = (positions + GEMM.panelWidth - 1) / GEMM.panelWidth
        startStorage = UnsafeMutablePointer<Int>.allocate(capacity: max(panels * 4, 1))
        startStorage.initialize(repeating: 0, count: max(panels * 4, 1))
        maskStorage = UnsafeMutablePointer<UInt16>.allocate(capacity: max(panels * 4, 1))
        maskStorage.initialize(repeating: 0, count: max(panels * 4, 1))
        var counts = [Int32](repeating: 0, count: panels)
        // Each panel's lanes split where output rows end: one run per row touched, walked with
        // a row and column that advance together (no division per lane).
        var (oh, ow) = (0, 0)
        for panel in 0..<panels {
            var lane = 0
            var run = 0
            let lanes = min(GEMM.panelWidth, positions - panel * GEMM.panelWidth)
            while lane < lanes {
                let length = min(lanes - lane, outW - ow)
                startStorage[panel * 4 + run] = oh * paddedW + ow - lane
                maskStorage[panel * 4 + run] = UInt16(truncatingIfNeeded: ((1 << length) - 1) << lane)
                lane += length
                ow += length
                if ow == outW { (oh, ow) = (oh + 1, 0) }
                run += 1
            }
            counts[panel] = Int32(run)
        }
        self.counts = counts
    }

    /// Runs of panel `panel` (1 to 4).
    func count(_ panel: Int) -> Int32 { counts[panel] }
    /// Where each run of panel `panel` starts.
    func starts(_ panel: Int) -> UnsafePointer<Int> { UnsafePointer(startStorage + panel * 4) }
    /// The lanes of each run of panel `panel`.
    func masks(_ panel: Int) -> UnsafePointer<UInt16> { UnsafePointer(maskStorage + panel * 4) }

    deinit {
        startStorage.deallocate()
        maskStorage.deallocate()
    }
}
