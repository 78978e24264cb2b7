import Foundation

/// Element values decoded into a wide Swift type, grouped by kind.
enum WideElements {
    case floating([Double])
    case signed([Int64])
    case unsigned([UInt64])
    case bool([Bool])
    /// Interleaved real and imaginary parts.
    case complex([Double])
}

extension Tensor {
    /// The tensor with its elements converted to `target`.
    ///
    /// Floats to integers truncate toward zero and saturate at the target's range (NaN gives 0),
    /// except the 4- and 2-bit types, which keep the low bits as ONNX `Cast` does; integers to narrower
    /// integers wrap as in NumPy; any non-zero value is `true`; real values
    /// become complex with a zero imaginary part.
    /// - Parameter target: the element type of the result.
    /// - Throws: ``TensorError/unsupportedConversion`` for strings ↔ numbers and complex → real.
    public func converted(to target: DType) throws -> Tensor {
        if target == dtype { return self }
        guard dtype != .string, target != .string else {
            throw TensorError.unsupportedConversion(from: dtype, to: target)
        }
        let wide = decodeWide()
        if case .complex = wide, !target.isComplex {
            throw TensorError.unsupportedConversion(from: dtype, to: target)
        }
        return Tensor.encode(wide, as: target, shape: shape)
    }

    /// The elements as `Double` (real numeric and bool tensors).
    /// - Throws: ``TensorError/unsupportedConversion`` for string and complex tensors.
    public func doubles() throws -> [Double] {
        guard dtype != .string else { throw TensorError.unsupportedConversion(from: dtype, to: .float64) }
        switch decodeWide() {
        case .floating(let values): return values
        case .signed(let values): return values.map(Double.init)
        case .unsigned(let values): return values.map { Double($0) }
        case .bool(let values): return values.map { $0 ? 1 : 0 }
        case .complex: throw TensorError.unsupportedConversion(from: dtype, to: .float64)
        }
    }

    /// Calls `body` with the elements as `Double`, a bounded chunk at a time, so a large sample
    /// is never widened whole (8 bytes per element of a uint8 image).
    /// - Parameter chunk: elements per call.
    /// - Throws: ``TensorError/unsupportedConversion`` for string and complex tensors.
    public func forEachChunkOfDoubles(chunk: Int = 1 << 16, _ body: ([Double]) -> Void) throws {
        let count = elementCount
        guard dtype.bitWidth >= 8, count > chunk else { return body(try doubles()) }
        let size = dtype.bitWidth / 8
        try withUnsafeBytes { raw in
            for start in stride(from: 0, to: count, by: chunk) {
                let end = min(count, start + chunk)
                let piece = try Tensor(dtype: dtype, shape: [end - start], bytes: UnsafeRawBufferPointer(rebasing: raw[start * size..<end * size]))
                body(try piece.doubles())
            }
        }
    }

    func decodeWide() -> WideElements {
        let count = elementCount
        return withUnsafeBytes { raw -> WideElements in
            func load<T: BinaryInteger>(_: T.Type) -> [T] { Array(raw.bindMemory(to: T.self).prefix(count)) }
            switch dtype {
            case .float32: return .floating(raw.bindMemory(to: Float.self).prefix(count).map(Double.init))
            case .float64: return .floating(Array(raw.bindMemory(to: Double.self).prefix(count)))
            case .float16:
                return .floating(load(UInt16.self).map { Double(ReducedPrecision.float(fromHalf: $0)) })
            case .bfloat16:
                return .floating(load(UInt16.self).map { Double(ReducedPrecision.float(fromBFloat16: $0)) })
            case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz:
                let format = ReducedPrecision.miniFloat(dtype)!
                return .floating(load(UInt8.self).map { Double(format.decode($0)) })
            case .float4e2m1:
                let format = ReducedPrecision.miniFloat(dtype)!
                return .floating(Tensor.unpack(raw, bits: 4, count: count).map { Double(format.decode($0)) })
            case .int8: return .signed(load(Int8.self).map(Int64.init))
            case .int16: return .signed(load(Int16.self).map(Int64.init))
            case .int32: return .signed(load(Int32.self).map(Int64.init))
            case .int64: return .signed(load(Int64.self))
            case .int4:
                return .signed(Tensor.unpack(raw, bits: 4, count: count).map { Int64(Int8(bitPattern: $0 << 4) >> 4) })
            case .int2:
                return .signed(Tensor.unpack(raw, bits: 2, count: count).map { Int64(Int8(bitPattern: $0 << 6) >> 6) })
            case .uint8: return .unsigned(load(UInt8.self).map(UInt64.init))
            case .uint16: return .unsigned(load(UInt16.self).map(UInt64.init))
            case .uint32: return .unsigned(load(UInt32.self).map(UInt64.init))
            case .uint64: return .unsigned(load(UInt64.self))
            case .uint4: return .unsigned(Tensor.unpack(raw, bits: 4, count: count).map(UInt64.init))
            case .uint2: return .unsigned(Tensor.unpack(raw, bits: 2, count: count).map(UInt64.init))
            case .bool: return .bool(load(UInt8.self).map { $0 != 0 })
            case .complex64: return .complex(raw.bindMemory(to: Float.self).prefix(2 * count).map(Double.init))
            case .complex128: return .complex(Array(raw.bindMemory(to: Double.self).prefix(2 * count)))
            case .string: preconditionFailure("string tensors have no numeric elements")
            }
        }
    }

    /// Sub-byte elements of `bits` bits each, low bits of each byte first.
    private static func unpack(_ raw: UnsafeRawBufferPointer, bits: Int, count: Int) -> [UInt8] {
        let perByte = 8 / bits
        let mask = UInt8((1 << bits) - 1)
        return (0..<count).map { index in (raw[index / perByte] >> UInt8(bits * (index % perByte))) & mask }
    }

    static func encode(_ wide: WideElements, as target: DType, shape: [Int]) -> Tensor {
        var result = Tensor(zeros: target, shape: shape)
        let reals: [Double]
        switch wide {
        case .complex(let parts):
            if target.isComplex {
                result.store(parts, as: target)
                return result
            }
            reals = stride(from: 0, to: parts.count, by: 2).map { parts[$0] }
        case .floating(let values): reals = values
        case .bool(let values):
            if target.isInteger || target == .bool {
                result.storeIntegers(values.map { $0 ? 1 : 0 }, as: target)
                return result
            }
            reals = values.map { $0 ? 1 : 0 }
        case .signed(let values):
            if target.isInteger || target == .bool {
                result.storeIntegers(values, as: target)
                return result
            }
            reals = values.map(Double.init)
        case .unsigned(let values):
            if target.isInteger || target == .bool {
                result.storeIntegers(values.map { Int64(bitPattern: $0) }, as: target)
                return result
            }
            // Not `map(Double.init)`: for UInt64 that resolves to `init(bitPattern:)`.
            reals = values.map { Double($0) }
        }
        if target.isComplex {
            result.store(reals.flatMap { [$0, 0] }, as: target)
        } else if target.isFloatingPoint {
            result.store(reals, as: target)
        } else if target == .bool {
            result.storeIntegers(reals.map { $0 != 0 && !$0.isNaN ? 1 : 0 }, as: target)
        } else {
            result.storeSaturating(reals, as: target)
        }
        return result
    }

    /// Stores floating values into a floating or complex tensor.
    private mutating func store(_ values: [Double], as target: DType) {
        withUnsafeMutableBytes { raw in
            switch target {
            case .float32, .complex64:
                for (index, value) in values.enumerated() { raw.storeBytes(of: Float(value), toByteOffset: 4 * index, as: Float.self) }
            case .float64, .complex128:
                for (index, value) in values.enumerated() { raw.storeBytes(of: value, toByteOffset: 8 * index, as: Double.self) }
            case .float16:
                for (index, value) in values.enumerated() {
                    raw.storeBytes(of: ReducedPrecision.halfBits(from: Float(value)), toByteOffset: 2 * index, as: UInt16.self)
                }
            case .bfloat16:
                for (index, value) in values.enumerated() {
                    raw.storeBytes(of: ReducedPrecision.bfloat16Bits(from: Float(value)), toByteOffset: 2 * index, as: UInt16.self)
                }
            case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz:
                let format = ReducedPrecision.miniFloat(target)!
                for (index, value) in values.enumerated() { raw[index] = format.encode(Float(value)) }
            case .float4e2m1:
                let format = ReducedPrecision.miniFloat(target)!
                for (index, value) in values.enumerated() { Tensor.store(format.encode(Float(value)), bits: 4, at: index, in: raw) }
            default: preconditionFailure("\(target) is not a floating type")
            }
        }
    }

    /// Stores integers with NumPy's wrap-around into an integer or bool tensor.
    private mutating func storeIntegers(_ values: [Int64], as target: DType) {
        withUnsafeMutableBytes { raw in
            for (index, value) in values.enumerated() {
                switch target {
                case .bool: raw[index] = value != 0 ? 1 : 0
                case .int8, .uint8: raw[index] = UInt8(truncatingIfNeeded: value)
                case .int16, .uint16: raw.storeBytes(of: UInt16(truncatingIfNeeded: value), toByteOffset: 2 * index, as: UInt16.self)
                case .int32, .uint32: raw.storeBytes(of: UInt32(truncatingIfNeeded: value), toByteOffset: 4 * index, as: UInt32.self)
                case .int64, .uint64: raw.storeBytes(of: UInt64(truncatingIfNeeded: value), toByteOffset: 8 * index, as: UInt64.self)
                case .int4, .uint4: Tensor.store(UInt8(truncatingIfNeeded: value), bits: 4, at: index, in: raw)
                case .int2, .uint2: Tensor.store(UInt8(truncatingIfNeeded: value), bits: 2, at: index, in: raw)
                default: preconditionFailure("\(target) is not an integer type")
                }
            }
        }
    }

    /// Stores real values into an integer tensor: truncation toward zero, saturation, NaN → 0.
    private mutating func storeSaturating(_ values: [Double], as target: DType) {
        // 4- and 2-bit types wrap like ONNX Cast: saturate to int64 first, keep the low bits.
        let wraps = target.bitWidth < 8
        guard let (low, high) = (wraps ? DType.int64 : target).integerRange else { preconditionFailure("\(target) is not an integer type") }
        if target == .uint64 {
            withUnsafeMutableBytes { raw in
                for (index, value) in values.enumerated() {
                    let clamped = value.isNaN ? 0 : min(max(value.rounded(.towardZero), low), high)
                    raw.storeBytes(of: UInt64(clamped), toByteOffset: 8 * index, as: UInt64.self)
                }
            }
            return
        }
        let integers = values.map { value -> Int64 in
            value.isNaN ? 0 : Int64(min(max(value.rounded(.towardZero), low), high))
        }
        storeIntegers(integers, as: target)
    }

    /// Writes the low `bits` bits of `value` as sub-byte element `index`.
    private static func store(_ value: UInt8, bits: Int, at index: Int, in raw: UnsafeMutableRawBufferPointer) {
        let perByte = 8 / bits
        let mask = UInt8((1 << bits) - 1)
        let shift = UInt8(bits * (index % perByte))
        raw[index / perByte] = raw[index / perByte] & ~(mask << shift) | ((value & mask) << shift)
    }
}
