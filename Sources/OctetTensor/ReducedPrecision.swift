/// Bit-level conversions between `Float` and the reduced-precision float formats ONNX stores
/// (float16, bfloat16, the float8 variants and float4e2m1). Conversions to these formats round
/// to nearest, ties to even; the 8- and 4-bit formats saturate to their largest finite value
/// (ONNX `Cast` with `saturate=1`).
public enum ReducedPrecision {
    /// IEEE-754 binary16 bits to `Float` (exact).
    /// - Parameter bits: the 16-bit pattern.
    public static func float(fromHalf bits: UInt16) -> Float {
        let sign = UInt32(bits >> 15) << 31
        let exponent = Int((bits >> 10) & 0x1F)
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        if exponent == 0 {
            // Zero or subnormal: value = mantissa * 2^-24.
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }

    /// `Float` to IEEE-754 binary16 bits, rounding to nearest even; overflow gives infinity.
    /// - Parameter value: the value to convert.
    public static func halfBits(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        let mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF {
            return sign | 0x7C00 | (mantissa != 0 ? 0x200 | UInt16(mantissa >> 13) : 0)
        }
        let halfExponent = exponent - 127 + 15
        if halfExponent >= 0x1F { return sign | 0x7C00 }
        if halfExponent <= 0 {
            // Subnormal half (or zero): shift the full significand into place with rounding.
            if halfExponent < -10 { return sign }
            let significand = mantissa | 0x80_0000
            let shift = UInt32(14 - halfExponent)
            return sign | UInt16(roundShift(significand, by: shift))
        }
        let rounded = roundShift(UInt32(halfExponent) << 23 | mantissa, by: 13)
        return sign | UInt16(rounded)  // a carry into the exponent is the correct rounding
    }

    /// bfloat16 bits to `Float` (exact).
    /// - Parameter bits: the 16-bit pattern (the top half of a float32).
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// `Float` to bfloat16 bits, rounding to nearest even; NaN stays NaN.
    /// - Parameter value: the value to convert.
    public static func bfloat16Bits(from value: Float) -> UInt16 {
        if value.isNaN { return UInt16(value.bitPattern >> 16) | 0x40 }
        return UInt16(truncatingIfNeeded: roundShift(value.bitPattern, by: 16))
    }

    /// Shifts right by `shift` bits, rounding to nearest with ties to even.
    private static func roundShift(_ value: UInt32, by shift: UInt32) -> UInt32 {
        let truncated = value >> shift
        let remainder = value & ((1 << shift) - 1)
        let half: UInt32 = 1 << (shift - 1)
        if remainder > half || (remainder == half && truncated & 1 == 1) { return truncated + 1 }
        return truncated
    }

    /// A minifloat layout: exponent and mantissa widths, bias and special-value convention.
    public struct MiniFloat: Sendable {
        let exponentBits: Int
        let mantissaBits: Int
        let bias: Int
        /// `fn`: no infinities, NaN only at all-ones; `fnuz`: NaN is the negative-zero pattern;
        /// `ieee`: infinities and NaNs as in IEEE-754; `finite`: no special values at all.
        enum Specials { case fn, fnuz, ieee, finite }
        let specials: Specials
        /// Codes of all finite non-negative values, in increasing order of value.
        private var positiveCodes: [UInt8] = []

        init(exponentBits: Int, mantissaBits: Int, bias: Int, specials: Specials) {
            self.exponentBits = exponentBits
            self.mantissaBits = mantissaBits
            self.bias = bias
            self.specials = specials
            let count = 1 << (exponentBits + mantissaBits)
            positiveCodes = (0..<count).map { UInt8($0) }.filter { decode($0).isFinite }
        }

        /// Bits in one value, sign included.
        var width: Int { 1 + exponentBits + mantissaBits }

        /// Decodes `code` (the low ``width`` bits) to a `Float`.
        public func decode(_ code: UInt8) -> Float {
            let signBit = UInt8(1) << (width - 1)
            let negative = code & signBit != 0
            let exponent = Int(code >> mantissaBits) & ((1 << exponentBits) - 1)
            let mantissa = Int(code) & ((1 << mantissaBits) - 1)
            switch specials {
            case .fnuz where code == signBit: return .nan
            case .fn where exponent == (1 << exponentBits) - 1 && mantissa == (1 << mantissaBits) - 1:
                return .nan
            case .ieee where exponent == (1 << exponentBits) - 1:
                return mantissa == 0 ? (negative ? -.infinity : .infinity) : .nan
            default: break
            }
            let magnitude: Float
            if exponent == 0 {
                magnitude = Float(mantissa) * Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: 1)
            } else {
                let significand = 1 + Float(mantissa) / Float(1 << mantissaBits)
                magnitude = Float(sign: .plus, exponent: exponent - bias, significand: significand)
            }
            return negative ? -magnitude : magnitude
        }

        /// Encodes `value`, rounding to nearest even and saturating to the largest finite value.
        public func encode(_ value: Float) -> UInt8 {
            let signBit = UInt8(1) << (width - 1)
            if value.isNaN {
                switch specials {
                // float4e2m1 has no NaN; ONNX maps NaN to its negative-zero pattern.
                case .fnuz, .finite: return signBit
                case .fn, .ieee: return UInt8((1 << (width - 1)) - 1)
                }
            }
            let positives = positiveCodes
            let magnitude = abs(value)
            var low = 0
            var high = positives.count - 1
            if magnitude >= decode(positives[high]) {
                low = high
            } else {
                // Binary search for the last code whose value is ≤ magnitude.
                while high - low > 1 {
                    let mid = (low + high) / 2
                    if decode(positives[mid]) <= magnitude { low = mid } else { high = mid }
                }
                let below = decode(positives[low])
                let above = decode(positives[high])
                if magnitude - below > above - magnitude
                    || (magnitude - below == above - magnitude && positives[low] & 1 == 1)
                {
                    low = high
                }
            }
            let code = positives[low]
            if value.sign == .minus && !(specials == .fnuz && code == 0) { return code | signBit }
            return code
        }
    }

    /// The largest finite value of a minifloat.
    public static func largestFinite(_ dtype: DType) -> Float? {
        guard let format = miniFloat(dtype) else { return nil }
        return (0..<(1 << (format.width - 1))).map { format.decode(UInt8($0)) }.filter(\.isFinite).max()
    }

    /// Layout of `dtype` when it is a float8 or float4 type.
    /// - Parameter dtype: one of the float8 types or `.float4e2m1`.
    public static func miniFloat(_ dtype: DType) -> MiniFloat? {
        switch dtype {
        case .float8e4m3fn: MiniFloat(exponentBits: 4, mantissaBits: 3, bias: 7, specials: .fn)
        case .float8e4m3fnuz: MiniFloat(exponentBits: 4, mantissaBits: 3, bias: 8, specials: .fnuz)
        case .float8e5m2: MiniFloat(exponentBits: 5, mantissaBits: 2, bias: 15, specials: .ieee)
        case .float8e5m2fnuz: MiniFloat(exponentBits: 5, mantissaBits: 2, bias: 16, specials: .fnuz)
        case .float4e2m1: MiniFloat(exponentBits: 2, mantissaBits: 1, bias: 1, specials: .finite)
        default: nil
        }
    }
}
