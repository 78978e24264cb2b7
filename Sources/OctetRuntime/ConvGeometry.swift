/// Spatial geometry shared by Conv, ConvTranspose and the pooling operators: kernel size,
/// strides, dilations, padding (explicit or `auto_pad`) and output size per spatial axis.
struct ConvGeometry {
    let input: [Int]
    let kernel: [Int]
    let strides: [Int]
    let dilations: [Int]
    var padBegin: [Int]
    var padEnd: [Int]
    var output: [Int]

    /// Geometry for a forward window operation (Conv, pooling).
    /// - Parameters:
    ///   - input: spatial input size.
    ///   - kernel: spatial kernel size.
    ///   - ceilMode: round the output size up (pooling's `ceil_mode`).
    init(context: KernelContext, input: [Int], kernel: [Int], ceilMode: Bool = false) throws {
        let rank = input.count
        self.input = input
        self.kernel = kernel
        strides = context.ints("strides") ?? [Int](repeating: 1, count: rank)
        dilations = context.ints("dilations") ?? [Int](repeating: 1, count: rank)
        guard strides.count == rank, dilations.count == rank, kernel.count == rank else {
            throw KernelError("kernel, strides and dilations must have \(rank) entries")
        }
        let pads = context.ints("pads") ?? [Int](repeating: 0, count: 2 * rank)
        guard pads.count == 2 * rank else { throw KernelError("pads must have \(2 * rank) entries") }
        guard kernel.allSatisfy({ $0 >= 1 }), strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 }),
              pads.allSatisfy({ $0 >= 0 }) else {
            throw KernelError("kernel \(kernel), strides \(strides) and dilations \(dilations) must be ≥ 1 and pads \(pads) ≥ 0")
        }
        padBegin = Array(pads[..<rank])
        padEnd = Array(pads[rank...])
        output = []
        let autoPad = context.string("auto_pad", "NOTSET")
        for axis in 0..<rank {
            let extent = dilations[axis] * (kernel[axis] - 1) + 1
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                let size = (input[axis] + strides[axis] - 1) / strides[axis]
                let total = max(0, (size - 1) * strides[axis] + extent - input[axis])
                padBegin[axis] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                padEnd[axis] = total - padBegin[axis]
                output.append(size)
            case "VALID":
                padBegin[axis] = 0
                padEnd[axis] = 0
                output.append(max(0, (input[axis] - extent) / strides[axis] + 1))
            default:
                let span = input[axis] + padBegin[axis] + padEnd[axis] - extent
                var size = (ceilMode ? (span + strides[axis] - 1) / strides[axis] : span / strides[axis]) + 1
                // A last window that would start inside the end padding is dropped.
                if ceilMode && (size - 1) * strides[axis] >= input[axis] + padBegin[axis] { size -= 1 }
                output.append(max(0, size))
            }
        }
    }

    /// Number of kernel positions.
    var kernelVolume: Int { kernel.reduce(1, *) }
    /// Number of output positions.
    var outputVolume: Int { output.reduce(1, *) }
    /// Number of input positions.
    var inputVolume: Int { input.reduce(1, *) }

    /// For each (kernel position, output position) pair, the flat input index or -1 when it
    /// falls in the padding. Laid out as `[kernelVolume][outputVolume]`.
    func inputIndices() -> [Int32] {
        let rank = input.count
        let kernelStrides = Layout.strides(kernel)
        let outputStrides = Layout.strides(output)
        let inputStrides = Layout.strides(input)
        var result = [Int32](repeating: -1, count: kernelVolume * outputVolume)
        for kernelIndex in 0..<kernelVolume {
            var offsets = [Int](repeating: 0, count: rank)
            var remainder = kernelIndex
            for axis in 0..<rank {
                offsets[axis] = remainder / kernelStrides[axis] * dilations[axis] - padBegin[axis]
                remainder %= kernelStrides[axis]
            }
            for outputIndex in 0..<outputVolume {
                var flat = 0
                var inside = true
                var rest = outputIndex
                for axis in 0..<rank {
                    let coordinate = rest / outputStrides[axis] * strides[axis] + offsets[axis]
                    rest %= outputStrides[axis]
                    if coordinate < 0 || coordinate >= input[axis] { inside = false; break }
                    flat += coordinate * inputStrides[axis]
                }
                if inside { result[kernelIndex * outputVolume + outputIndex] = Int32(flat) }
            }
        }
        return result
    }
}
