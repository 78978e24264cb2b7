import Foundation
import OctetGraph

/// DFT, STFT, the Hann / Hamming / Blackman windows and MelWeightMatrix: audio front-ends.
enum SignalKernels {
    /// The discrete Fourier transform of complex sequences of length `n`, in double precision:
    /// an iterative radix-2 FFT for powers of two, Bluestein's chirp-z transform (a power-of-two
    /// convolution) for other lengths; the inverse divides by `n`.
    struct Transform {
        let n: Int
        /// Power-of-two size of the convolution (Bluestein) or `n` itself.
        let size: Int
        /// Bluestein's chirp e^{iπt²/n}, and the FFT of its convolution kernel.
        let chirp: (re: [Double], im: [Double])
        let kernel: (re: [Double], im: [Double])

        init(length n: Int) {
            self.n = n
            if n & (n - 1) == 0 {
                (size, chirp, kernel) = (n, ([], []), ([], []))
                return
            }
            var m = 1
            while m < 2 * n - 1 { m <<= 1 }
            size = m
            let angles = (0..<n).map { t in Double.pi * Double((t * t) % (2 * n)) / Double(n) }
            chirp = (angles.map { Foundation.cos($0) }, angles.map { Foundation.sin($0) })
            var (re, im) = ([Double](repeating: 0, count: m), [Double](repeating: 0, count: m))
            for t in 0..<n {
                re[t] = chirp.re[t]
                im[t] = chirp.im[t]
                if t > 0 {
                    re[m - t] = chirp.re[t]
                    im[m - t] = chirp.im[t]
                }
            }
            Self.fft(&re, &im, inverse: false)
            kernel = (re, im)
        }

        /// In-place radix-2 FFT of a power-of-two length (unnormalized; `inverse` flips the sign).
        static func fft(_ re: inout [Double], _ im: inout [Double], inverse: Bool) {
            let count = re.count
            guard count > 1 else { return }
            var j = 0
            for i in 1..<count {
                var bit = count >> 1
                while j & bit != 0 {
                    j ^= bit
                    bit >>= 1
                }
                j |= bit
                if i < j {
                    re.swapAt(i, j)
                    im.swapAt(i, j)
                }
            }
            var length = 2
            while length <= count {
                let angle = (inverse ? 2 : -2) * Double.pi / Double(length)
                let (stepRe, stepIm) = (Foundation.cos(angle), Foundation.sin(angle))
                for start in stride(from: 0, to: count, by: length) {
                    var (wRe, wIm) = (1.0, 0.0)
                    for k in 0..<(length / 2) {
                        let (a, b) = (start + k, start + k + length / 2)
                        let tRe = re[b] * wRe - im[b] * wIm
                        let tIm = re[b] * wIm + im[b] * wRe
                        (re[b], im[b]) = (re[a] - tRe, im[a] - tIm)
                        (re[a], im[a]) = (re[a] + tRe, im[a] + tIm)
                        (wRe, wIm) = (wRe * stepRe - wIm * stepIm, wRe * stepIm + wIm * stepRe)
                    }
                }
                length <<= 1
            }
        }

        /// Bins `0..<bins` of the transform of (`re`, `im`), each of length `n`.
        func callAsFunction(_ re: [Double], _ im: [Double], bins: Int, inverse: Bool) -> (re: [Double], im: [Double]) {
            // The inverse is the conjugate of the forward transform of the conjugate, over n.
            var (xRe, xIm) = (re, inverse ? im.map { -$0 } : im)
            if size == n {
                Self.fft(&xRe, &xIm, inverse: false)
            } else {
                // x·conj(chirp), convolved with the chirp, times conj(chirp).
                var (aRe, aIm) = ([Double](repeating: 0, count: size), [Double](repeating: 0, count: size))
                for t in 0..<n {
                    aRe[t] = xRe[t] * chirp.re[t] + xIm[t] * chirp.im[t]
                    aIm[t] = xIm[t] * chirp.re[t] - xRe[t] * chirp.im[t]
                }
                Self.fft(&aRe, &aIm, inverse: false)
                for i in 0..<size {
                    (aRe[i], aIm[i]) = (aRe[i] * kernel.re[i] - aIm[i] * kernel.im[i], aRe[i] * kernel.im[i] + aIm[i] * kernel.re[i])
                }
                Self.fft(&aRe, &aIm, inverse: true)
                let scale = 1 / Double(size)
                for k in 0..<n {
                    let (cRe, cIm) = (aRe[k] * scale, aIm[k] * scale)
                    xRe[k] = cRe * chirp.re[k] + cIm * chirp.im[k]
                    xIm[k] = cIm * chirp.re[k] - cRe * chirp.im[k]
                }
            }
            let outRe = Array(xRe.prefix(bins)).map { inverse ? $0 / Double(n) : $0 }
            let outIm = Array(xIm.prefix(bins)).map { inverse ? -$0 / Double(n) : $0 }
            return (outRe, outIm)
        }
    }

    static func dft(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        guard input.dtype.isFloatingPoint, input.rank >= 2, let components = input.shape.last, components == 1 || components == 2 else {
            throw KernelError("expects a floating-point signal [..., n, 1 or 2], got \(input.dtype)\(input.shape)")
        }
        let axisValue = context.opset >= 20 ? try context.optionalInput(2)?.integers().first ?? -2 : context.int("axis", 1)
        let axis = try Layout.axis(axisValue, rank: input.rank)
        guard axis < input.rank - 1 else { throw KernelError("axis \(axisValue) must not be the last (real/imaginary) axis") }
        let inverse = context.int("inverse", 0) != 0
        let onesided = context.int("onesided", 0) != 0
        let size = input.shape[axis]
        var length = inverse && onesided ? 2 * (size - 1) : size
        if let requested = try context.optionalInput(1)?.integers().first { length = requested }
        guard length > 0 else { throw KernelError("dft_length must be positive, got \(length)") }
        if !inverse && onesided && components == 2 { throw KernelError("onesided is only defined for a real input signal") }
        let bins = inverse ? length : (onesided ? length / 2 + 1 : length)
        var outputShape = input.shape
        outputShape[axis] = bins
        try Layout.check(outputShape, .float64)
        try Layout.check([length, 2], .float64)
        let outComponents = inverse && onesided ? 1 : 2
        let outer = input.shape[..<axis].reduce(1, *)
        let inner = input.shape[(axis + 1)..<(input.rank - 1)].reduce(1, *)
        let values = try input.doubles()
        let transform = Transform(length: length)
        var out = [Double](repeating: 0, count: outer * bins * inner * outComponents)
        var (re, im) = ([Double](repeating: 0, count: length), [Double](repeating: 0, count: length))
        for o in 0..<outer {
            for i in 0..<inner {
                for t in 0..<length {
                    re[t] = 0
                    im[t] = 0
                }
                if inverse && onesided {
                    // The full spectrum from its first half (Hermitian symmetry), as numpy's irfft.
                    let kept = Swift.min(size, length / 2 + 1)
                    for k in 0..<kept {
                        let base = ((o * size + k) * inner + i) * components
                        re[k] = values[base]
                        im[k] = components == 2 && k != 0 && !(length % 2 == 0 && k == length / 2) ? values[base + 1] : 0
                        if k != 0 && k != length - k {
                            re[length - k] = re[k]
                            im[length - k] = -im[k]
                        }
                    }
                } else {
                    for t in 0..<Swift.min(size, length) {
                        let base = ((o * size + t) * inner + i) * components
                        re[t] = values[base]
                        im[t] = components == 2 ? values[base + 1] : 0
                    }
                }
                let (outRe, outIm) = transform(re, im, bins: bins, inverse: inverse)
                for k in 0..<bins {
                    let base = ((o * bins + k) * inner + i) * outComponents
                    out[base] = outRe[k]
                    if outComponents == 2 { out[base + 1] = outIm[k] }
                }
            }
        }
        var shape = input.shape
        shape[axis] = bins
        shape[shape.count - 1] = outComponents
        return try Tensor(shape: shape, scalars: out).converted(to: input.dtype)
    }

    static func stft(_ context: KernelContext) throws -> Tensor {
        let signal = try context.input(0)
        guard signal.dtype.isFloatingPoint, signal.rank == 3, signal.shape[2] == 1 || signal.shape[2] == 2 else {
            throw KernelError("expects a floating-point signal [batch, length, 1 or 2], got \(signal.dtype)\(signal.shape)")
        }
        guard let step = try context.input(1).integers().first, step > 0 else { throw KernelError("frame_step must be positive") }
        let window = try context.optionalInput(2)?.doubles()
        let frameLength = try context.optionalInput(3)?.integers().first ?? window?.count ?? signal.shape[1]
        guard frameLength > 0, frameLength <= signal.shape[1], window.map({ $0.count == frameLength }) ?? true else {
            throw KernelError("frame_length \(frameLength) and window (\(window?.count ?? 0)) must agree and fit the signal's \(signal.shape[1])")
        }
        let onesided = context.int("onesided", 1) != 0
        if onesided && signal.shape[2] == 2 { throw KernelError("onesided is only defined for a real input signal") }
        let (batch, length, components) = (signal.shape[0], signal.shape[1], signal.shape[2])
        let frames = 1 + (length - frameLength) / step
        try Layout.check([batch, frames, onesided ? frameLength / 2 + 1 : frameLength, 2], .float64)
        let bins = onesided ? frameLength / 2 + 1 : frameLength
        let values = try signal.doubles()
        let transform = Transform(length: frameLength)
        var out = [Double](repeating: 0, count: batch * frames * bins * 2)
        var (re, im) = ([Double](repeating: 0, count: frameLength), [Double](repeating: 0, count: frameLength))
        for b in 0..<batch {
            for f in 0..<frames {
                for t in 0..<frameLength {
                    let base = (b * length + f * step + t) * components
                    let w = window?[t] ?? 1
                    re[t] = values[base] * w
                    im[t] = components == 2 ? values[base + 1] * w : 0
                }
                let (outRe, outIm) = transform(re, im, bins: bins, inverse: false)
                for k in 0..<bins {
                    out[((b * frames + f) * bins + k) * 2] = outRe[k]
                    out[((b * frames + f) * bins + k) * 2 + 1] = outIm[k]
                }
            }
        }
        return try Tensor(shape: [batch, frames, bins, 2], scalars: out).converted(to: signal.dtype)
    }

    /// The output type attribute (`output_datatype`, float32 by default).
    static func outputType(_ context: KernelContext) throws -> DType {
        guard let code = Int32(exactly: context.int("output_datatype", 1)), let dtype = DType(rawValue: code), dtype != .string else {
            throw KernelError("attribute 'output_datatype' = \(context.int("output_datatype", 1)) is not a numeric tensor type")
        }
        return dtype
    }

    /// A window of `size` samples; `periodic` (default 1) divides by N instead of N − 1.
    static func window(_ context: KernelContext, _ shape: (Double) -> Double) throws -> Tensor {
        guard let size = try context.input(0).integers().first, size >= 0 else { throw KernelError("size must be a non-negative integer") }
        let denominator = Double(context.int("periodic", 1) != 0 ? size : size - 1)
        try Layout.check([size], .float64)
        let values = (0..<size).map { shape(2 * Double.pi * Double($0) / denominator) }
        return try Tensor(shape: [size], scalars: values).converted(to: try outputType(context))
    }

    /// The triangular mel filter bank [dft_length / 2 + 1, num_mel_bins] (HTK mel scale; bin edges
    /// as the ONNX definition computes them).
    static func melWeightMatrix(_ context: KernelContext) throws -> Tensor {
        func scalar(_ index: Int) throws -> Double {
            guard let value = try context.input(index).doubles().first else { throw KernelError("input #\(index) must hold a value") }
            return value
        }
        guard try [scalar(0), scalar(1)].allSatisfy({ $0.isFinite && Swift.abs($0) < 1e15 }) else {
            throw KernelError("num_mel_bins and dft_length must be finite integers")
        }
        let melBins = Int(try scalar(0))
        let dftLength = Int(try scalar(1))
        let sampleRate = try scalar(2)
        let (lower, upper) = (try scalar(3), try scalar(4))
        guard melBins > 0, dftLength > 0, sampleRate > 0, lower >= 0, upper > lower else {
            throw KernelError("needs num_mel_bins > 0, dft_length > 0, sample_rate > 0 and 0 ≤ lower_edge_hertz < upper_edge_hertz")
        }
        let spectrumBins = dftLength / 2 + 1
        try Layout.check([spectrumBins, melBins], .float64)
        let lowMel = 2595 * Foundation.log10(1 + lower / 700)
        let highMel = 2595 * Foundation.log10(1 + upper / 700)
        let step = (highMel - lowMel) / Double(melBins + 2)
        let edges = try (0..<(melBins + 2)).map { index -> Int in
            let hertz = 700 * (Foundation.pow(10, (Double(index) * step + lowMel) / 2595) - 1)
            let bin = (Double(dftLength + 1) * hertz / sampleRate).rounded(.down)
            guard bin.isFinite, Swift.abs(bin) < 1e15 else { throw KernelError("the mel band edges fall outside the spectrum") }
            return Int(bin)
        }
        guard let last = edges.last, last < spectrumBins + 1 else { throw KernelError("upper_edge_hertz lies past the Nyquist frequency") }
        var out = [Double](repeating: 0, count: spectrumBins * melBins)
        for m in 0..<melBins {
            let (left, center, right) = (edges[m], edges[m + 1], edges[m + 2])
            if center == left {
                if center < spectrumBins { out[center * melBins + m] = 1 }
            } else {
                for j in left...center where j < spectrumBins { out[j * melBins + m] = Double(j - left) / Double(center - left) }
            }
            if right > center {
                for j in center..<right where j < spectrumBins { out[j * melBins + m] = Double(right - j) / Double(right - center) }
            }
        }
        return try Tensor(shape: [spectrumBins, melBins], scalars: out).converted(to: try outputType(context))
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("DFT") { [try dft($0)] }
        registry.register("STFT") { [try stft($0)] }
        registry.register("HannWindow") { c in [try window(c) { Foundation.pow(Foundation.sin($0 / 2), 2) }] }
        registry.register("HammingWindow") { c in [try window(c) { 25.0 / 46.0 - 21.0 / 46.0 * Foundation.cos($0) }] }
        registry.register("BlackmanWindow") { c in [try window(c) { 0.42 - 0.5 * Foundation.cos($0) + 0.08 * Foundation.cos(2 * $0) }] }
        registry.register("MelWeightMatrix") { [try melWeightMatrix($0)] }
    }
}
