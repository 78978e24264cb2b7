import OctetTensor

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
        guard (kernel + strides + dilations + pads + input).allSatisfy({ $0 <= Int(Int32.max) }) else {
            throw KernelError("kernel \(kernel), strides \(strides), dilations \(dilations), pads \(pads) and input size \(input) must each be below 2^31")
        }
        padBegin = Array(pads[..<rank])
        padEnd = Array(pads[rank...])
        output = []
        let autoPad = context.string("auto_pad", "NOTSET")
        for axis in 0..<rank {
            let what = "the window geometry of spatial axis \(axis)"
            let extent = try Size.add(Size.multiply(dilations[axis], kernel[axis] - 1, for: what), 1, for: what)
            let stride = strides[axis]
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                let size = try Size.add(input[axis], stride - 1, for: what) / stride
                let total = max(0, try Size.subtract(Size.add(Size.multiply(size - 1, stride, for: what), extent, for: what), input[axis], for: what))
                padBegin[axis] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                padEnd[axis] = total - padBegin[axis]
                output.append(size)
            case "VALID":
                padBegin[axis] = 0
                padEnd[axis] = 0
                output.append(max(0, (input[axis] - extent) / stride + 1))
            default:
                let span = try Size.subtract(Size.add(input[axis], padBegin[axis], padEnd[axis], for: what), extent, for: what)
                var size = (ceilMode ? try Size.add(span, stride - 1, for: what) / stride : span / stride) + 1
                // A last window that would start inside the end padding is dropped.
                if ceilMode, let start = Checked.multiply(size - 1, stride), start >= input[axis] + padBegin[axis] { size -= 1 }
                output.append(max(0, size))
            }
        }
        guard let volume = Checked.multiply(kernel.reduce(1) { $0 &* max($1, 1) }, output.reduce(1) { $0 &* max($1, 1) }),
              Checked.product(kernel) != nil, volume <= Int(Int32.max), Checked.product(input) ?? .max <= Int(Int32.max)
        else {
            throw KernelError("kernel \(kernel) over output \(output) and input \(input) is too large a window operation")
        }
    }

    /// The geometry of a 1×1 window with stride 1 and no padding over `size` (a strided 1×1
    /// convolution after its input positions were gathered).
    init(pointwiseOver size: [Int]) {
        input = size
        output = size
        kernel = [Int](repeating: 1, count: size.count)
        strides = kernel
        dilations = kernel
        padBegin = [Int](repeating: 0, count: size.count)
        padEnd = padBegin
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
