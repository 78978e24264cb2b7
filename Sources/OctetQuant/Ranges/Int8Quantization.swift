/// Symmetric INT8 arithmetic as TensorRT applies it (SPEC §2): zero point 0, scale = amax / 127.
public enum Int8Quantization {
    /// The scale for a range.
    /// - Parameter amax: the largest magnitude to represent.
    public static func scale(amax: Double) -> Float { Float(amax / 127) }

    /// `clamp(roundHalfToEven(x / scale), -128, 127)`.
    public static func quantize(_ x: Float, scale: Float) -> Int8 {
        let q = (x / scale).rounded(.toNearestOrEven)
        if q.isNaN { return 0 }
        return Int8(min(max(q, -128), 127))
    }

    /// `q · scale`.
    public static func dequantize(_ q: Int8, scale: Float) -> Float { Float(q) * scale }
}
