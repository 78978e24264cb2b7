import Foundation
import OctetGraph

/// Attention (opset 23–25), RotaryEmbedding, SwiGLU and TensorScatter: the operators newer
/// exporters emit for decoder blocks. Computed in double precision, results in the inputs' types.
enum AttentionKernels {
    /// A rank-4 `[batch, heads, sequence, head size]` view of Q, K or V in double precision.
    struct Heads {
        var values: [Double]
        let batch: Int, heads: Int, sequence: Int, size: Int

        /// Reads a rank-4 tensor, or splits a rank-3 `[batch, sequence, heads · size]` one.
        init(_ tensor: Tensor, heads requested: Int?, name: String) throws {
            switch tensor.rank {
            case 4:
                (batch, heads, sequence, size) = (tensor.shape[0], tensor.shape[1], tensor.shape[2], tensor.shape[3])
                values = try tensor.doubles()
            case 3:
                guard let requested, requested > 0, tensor.shape[2] % requested == 0 else {
                    throw KernelError("\(name) of shape \(tensor.shape) needs a head count attribute dividing its last dimension")
                }
                (batch, heads, sequence, size) = (tensor.shape[0], requested, tensor.shape[1], tensor.shape[2] / requested)
                values = try Layout.transpose(try tensor.reshaped([batch, sequence, heads, size]), [0, 2, 1, 3]).doubles()
            default:
                throw KernelError("\(name) must have rank 3 or 4, got shape \(tensor.shape)")
            }
        }

        init(values: [Double], batch: Int, heads: Int, sequence: Int, size: Int) {
            (self.values, self.batch, self.heads, self.sequence, self.size) = (values, batch, heads, sequence, size)
        }

        var shape: [Int] { [batch, heads, sequence, size] }

        /// The element at (b, h, s, d).
        @inline(__always) func at(_ b: Int, _ h: Int, _ s: Int, _ d: Int) -> Double {
            values[((b * heads + h) * sequence + s) * size + d]
        }

        /// `past` followed by `self` along the sequence axis.
        func appended(to past: Heads) throws -> Heads {
            guard past.batch == batch, past.heads == heads, past.size == size else {
                throw KernelError("past cache of shape \(past.shape) does not match the new values' \(shape)")
            }
            var joined: [Double] = []
            joined.reserveCapacity(past.values.count + values.count)
            for bh in 0..<batch * heads {
                joined += past.values[bh * past.sequence * size..<(bh + 1) * past.sequence * size]
                joined += values[bh * sequence * size..<(bh + 1) * sequence * size]
            }
            return Heads(values: joined, batch: batch, heads: heads, sequence: past.sequence + sequence, size: size)
        }
    }

    static func attention(_ context: KernelContext) throws -> [Tensor] {
        let (q, k, v) = (try context.input(0), try context.input(1), try context.input(2))
        guard q.rank == k.rank, q.rank == v.rank else {
            throw KernelError("Q, K and V must have the same rank, got \(q.shape), \(k.shape), \(v.shape)")
        }
        let qHeadsAttribute = context.has("q_num_heads") ? context.int("q_num_heads", 0) : nil
        let kvHeadsAttribute = context.has("kv_num_heads") ? context.int("kv_num_heads", 0) : nil
        let query = try Heads(q, heads: qHeadsAttribute, name: "Q")
        var key = try Heads(k, heads: kvHeadsAttribute, name: "K")
        var value = try Heads(v, heads: kvHeadsAttribute, name: "V")
        let pastKey = try context.optionalInput(4).map { try Heads($0, heads: nil, name: "past_key") }
        let pastValue = try context.optionalInput(5).map { try Heads($0, heads: nil, name: "past_value") }
        guard (pastKey == nil) == (pastValue == nil) else { throw KernelError("past_key and past_value must be given together") }
        if let pastKey, let pastValue {
            key = try key.appended(to: pastKey)
            value = try value.appended(to: pastValue)
        }
        let nonpad = try context.optionalInput(6)?.integers()
        guard key.batch == query.batch, value.batch == query.batch, key.sequence == value.sequence, key.size == query.size,
              key.heads == value.heads, key.heads > 0, query.heads % key.heads == 0 else {
            throw KernelError("Q \(query.shape), K \(key.shape) and V \(value.shape) do not fit together")
        }
        if let nonpad, nonpad.count != query.batch || !nonpad.allSatisfy({ $0 >= 0 && $0 <= key.sequence }) {
            throw KernelError("nonpad_kv_seqlen must hold one length in 0...\(key.sequence) per batch entry (\(query.batch))")
        }
        let (batch, heads, sq, skv) = (query.batch, query.heads, query.sequence, key.sequence)
        let groups = heads / key.heads
        // Q and K are each scaled by √scale (rounded to Q's type, as the function body casts it).
        let scale = context.has("scale") ? Double(context.float("scale", 1)) : 1 / Double(query.size).squareRoot()
        let rootScale = try Tensor(shape: [], scalars: [scale.squareRoot()]).converted(to: q.dtype).doubles()[0]
        let softcap = Double(context.float("softcap", 0))
        let mode = context.int("qk_matmul_output_mode", 0)
        let bias = try AttentionBias(context, batch: batch, heads: heads, sq: sq, skv: skv,
                                     past: pastKey?.sequence, nonpad: nonpad)
        var y = [Double](repeating: 0, count: batch * heads * sq * value.size)
        var debug = [Double](repeating: 0, count: batch * heads * sq * skv)
        var row = [Double](repeating: 0, count: skv)
        for b in 0..<batch {
            for h in 0..<heads {
                let kvHead = h / groups
                for i in 0..<sq {
                    let debugBase = ((b * heads + h) * sq + i) * skv
                    var allMasked = true
                    for j in 0..<skv {
                        var dot = 0.0
                        for d in 0..<query.size {
                            dot += query.at(b, h, i, d) * rootScale * (key.at(b, kvHead, j, d) * rootScale)
                        }
                        if mode == 0 { debug[debugBase + j] = dot }
                        if softcap > 0 { dot = softcap * Foundation.tanh(dot / softcap) }
                        if mode == 1 { debug[debugBase + j] = dot }
                        let added = bias.value(b, h, i, j)
                        if added != -.infinity { allMasked = false }
                        row[j] = dot + added
                        if mode == 2 { debug[debugBase + j] = row[j] }
                    }
                    // Softmax; a row whose bias is -inf everywhere attends nothing and gives zeros.
                    let peak = row.max() ?? 0
                    var total = 0.0
                    for j in 0..<skv {
                        row[j] = allMasked || peak == -.infinity ? 0 : Foundation.exp(row[j] - peak)
                        total += row[j]
                    }
                    if total > 0 { for j in 0..<skv { row[j] /= total } }
                    if mode == 3 { for j in 0..<skv { debug[debugBase + j] = row[j] } }
                    let yBase = ((b * heads + h) * sq + i) * value.size
                    for j in 0..<skv where row[j] != 0 {
                        for d in 0..<value.size { y[yBase + d] += row[j] * value.at(b, kvHead, j, d) }
                    }
                }
            }
        }
        var output = try Tensor(shape: [batch, heads, sq, value.size], scalars: y).converted(to: q.dtype)
        if q.rank == 3 {
            output = try Layout.transpose(output, [0, 2, 1, 3]).reshaped([batch, sq, heads * value.size])
        }
        return [output,
                try Tensor(shape: key.shape, scalars: key.values).converted(to: k.dtype),
                try Tensor(shape: value.shape, scalars: value.values).converted(to: v.dtype),
                try Tensor(shape: [batch, heads, sq, skv], scalars: debug).converted(to: q.dtype)]
    }

    /// The additive bias of one attention score: the mask (boolean → 0 / −inf, float added,
    /// padded with −inf to the key length, broadcast right-aligned to [batch, heads, q, kv]),
    /// the offset-aware causal frontier, the sliding window and the padding of `nonpad_kv_seqlen`.
    struct AttentionBias {
        let mask: [Double]?
        let maskStrides: [Int]
        let maskLength: Int
        let causal: Bool
        let left: Int, right: Int
        let offsets: [Int]
        let nonpad: [Int]?

        init(_ context: KernelContext, batch: Int, heads: Int, sq: Int, skv: Int, past: Int?, nonpad: [Int]?) throws {
            causal = context.int("is_causal", 0) != 0
            left = context.int("left_window_size", -1)
            right = context.int("right_window_size", -1)
            guard left >= -1, right >= -1 else { throw KernelError("window sizes must be -1 or non-negative") }
            self.nonpad = nonpad
            if let past {
                offsets = Array(repeating: past, count: batch)
            } else if let nonpad {
                offsets = nonpad.map { $0 - sq }
            } else {
                offsets = Array(repeating: 0, count: batch)
            }
            if let tensor = context.optionalInput(3) {
                guard tensor.rank >= 1, tensor.rank <= 4, tensor.shape.last ?? 0 <= skv else {
                    throw KernelError("attn_mask of shape \(tensor.shape) does not fit scores [\(batch), \(heads), \(sq), \(skv)]")
                }
                let values = try tensor.doubles()
                mask = tensor.dtype == .bool ? values.map { $0 != 0 ? 0 : -.infinity } : values
                let full = [batch, heads, sq, skv]
                var shape = Array(repeating: 1, count: 4 - tensor.rank) + tensor.shape
                maskLength = shape[3]
                shape[3] = skv
                for axis in 0..<3 where shape[axis] != 1 && shape[axis] != full[axis] {
                    throw KernelError("attn_mask of shape \(tensor.shape) does not broadcast to scores \(full)")
                }
                var strides = [0, 0, 0, 1]
                var running = maskLength
                for axis in (0..<3).reversed() {
                    strides[axis] = shape[axis] == 1 ? 0 : running
                    running *= shape[axis]
                }
                maskStrides = strides
            } else {
                (mask, maskStrides, maskLength) = (nil, [], 0)
            }
        }

        @inline(__always) func value(_ b: Int, _ h: Int, _ i: Int, _ j: Int) -> Double {
            var total = 0.0
            if let mask {
                total += j >= maskLength ? -.infinity : mask[b * maskStrides[0] + h * maskStrides[1] + i * maskStrides[2] + j]
            }
            let position = i + offsets[b]
            if causal, j > position { return -.infinity }
            if left >= 0, position - j > left { return -.infinity }
            if right >= 0, j - position > right { return -.infinity }
            if let nonpad, j >= nonpad[b] { return -.infinity }
            return total
        }
    }

    /// Rotates pairs of each head's first `rotary_embedding_dim` features by the cached angles
    /// (halves, or interleaved pairs); input `[batch, heads, seq, size]` or `[batch, seq, hidden]`.
    static func rotaryEmbedding(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        let cosCache = try context.input(1)
        let sinCache = try context.input(2)
        let positions = try context.optionalInput(3)?.integers()
        let interleaved = context.int("interleaved", 0) != 0
        let heads: Heads
        if input.rank == 4 {
            heads = try Heads(input, heads: nil, name: "input")
        } else {
            heads = try Heads(input, heads: context.int("num_heads", 0), name: "input")
        }
        let rotary = context.int("rotary_embedding_dim", 0) == 0 ? heads.size : context.int("rotary_embedding_dim", 0)
        guard rotary > 0, rotary <= heads.size, rotary % 2 == 0 else {
            throw KernelError("rotary_embedding_dim \(rotary) must be even and at most the head size \(heads.size)")
        }
        let half = rotary / 2
        guard cosCache.shape.last == half, sinCache.shape == cosCache.shape else {
            throw KernelError("cos_cache \(cosCache.shape) and sin_cache \(sinCache.shape) must end in rotary_embedding_dim / 2 = \(half)")
        }
        let (cosValues, sinValues) = (try cosCache.doubles(), try sinCache.doubles())
        // The cache row for (batch b, position s): position_ids index a [max positions, half]
        // cache; without them the cache is [batch, seq, half].
        func cacheRow(_ b: Int, _ s: Int) throws -> Int {
            if let positions {
                guard positions.count == heads.batch * heads.sequence else {
                    throw KernelError("position_ids has \(positions.count) elements, expected \(heads.batch * heads.sequence)")
                }
                let p = positions[b * heads.sequence + s]
                guard p >= 0, p < cosValues.count / half else { throw KernelError("position id \(p) is outside the cache") }
                return p
            }
            guard cosValues.count == heads.batch * heads.sequence * half else {
                throw KernelError("cos_cache \(cosCache.shape) must be [batch, sequence, \(half)] without position_ids")
            }
            return b * heads.sequence + s
        }
        var out = heads.values
        for b in 0..<heads.batch {
            for s in 0..<heads.sequence {
                let row = try cacheRow(b, s) * half
                for h in 0..<heads.heads {
                    let base = ((b * heads.heads + h) * heads.sequence + s) * heads.size
                    for p in 0..<half {
                        let (first, second) = interleaved ? (base + 2 * p, base + 2 * p + 1) : (base + p, base + half + p)
                        let (x1, x2) = (heads.values[first], heads.values[second])
                        let (c, n) = (cosValues[row + p], sinValues[row + p])
                        out[first] = c * x1 - n * x2
                        out[second] = n * x1 + c * x2
                    }
                }
            }
        }
        let result = try Tensor(shape: heads.shape, scalars: out).converted(to: input.dtype)
        if input.rank == 4 { return result }
        return try Layout.transpose(result, [0, 2, 1, 3]).reshaped(input.shape)
    }

    /// SwiGLU: a · sigmoid(alpha · a) · b for same-shaped A and B.
    static func swiGLU(_ context: KernelContext) throws -> Tensor {
        let (a, b) = (try context.input(0), try context.input(1))
        guard a.shape == b.shape, a.dtype == b.dtype, a.dtype.isFloatingPoint else {
            throw KernelError("A \(a.dtype)\(a.shape) and B \(b.dtype)\(b.shape) must be floating-point tensors of one shape and type")
        }
        let swish = try ActivationKernels.unary(a, .swish(alpha: Double(context.float("alpha", 1))))
        return try ArithmeticKernels.binary(swish, b, .mul)
    }

    /// TensorScatter: writes `update` into a copy of the cache along `axis` from each batch's
    /// write index (wrapping in `circular` mode).
    static func tensorScatter(_ context: KernelContext) throws -> Tensor {
        let cache = try context.input(0)
        let update = try context.input(1)
        let mode = context.string("mode", "linear")
        guard mode == "linear" || mode == "circular" else { throw KernelError("attribute 'mode' must be linear or circular") }
        guard cache.rank == update.rank, cache.rank >= 2, cache.dtype == update.dtype else {
            throw KernelError("update \(update.dtype)\(update.shape) does not fit cache \(cache.dtype)\(cache.shape)")
        }
        let axis = try Layout.axis(context.int("axis", -2), rank: cache.rank)
        guard axis > 0 else { throw KernelError("attribute 'axis' must not be the batch axis") }
        for i in 0..<cache.rank where i == axis ? update.shape[i] > cache.shape[i] : update.shape[i] != cache.shape[i] {
            throw KernelError("update shape \(update.shape) does not fit cache shape \(cache.shape) at axis \(i)")
        }
        let starts = try context.optionalInput(2)?.integers() ?? Array(repeating: 0, count: cache.shape[0])
        guard starts.count == cache.shape[0] else { throw KernelError("write_indices needs one entry per batch") }
        let (capacity, length) = (cache.shape[axis], update.shape[axis])
        let inner = cache.shape[(axis + 1)...].reduce(1, *)
        let outerPerBatch = cache.shape[1..<axis].reduce(1, *)
        let size = cache.elementSize
        var result = cache
        try update.withUnsafeBytes { source in
            try result.withUnsafeMutableBytes { target in
                for b in 0..<cache.shape[0] {
                    for o in 0..<outerPerBatch {
                        for s in 0..<length {
                            let position: Int
                            if mode == "circular" {
                                position = (((starts[b] % capacity) + capacity) % capacity + s) % capacity
                            } else {
                                guard starts[b] >= 0, starts[b] <= capacity - length else {
                                    throw KernelError("write index \(starts[b]) + \(length) updates do not fit the cache's \(capacity) positions")
                                }
                                position = starts[b] + s
                            }
                            let outer = b * outerPerBatch + o
                            let from = ((outer * length) + s) * inner * size
                            let to = ((outer * capacity) + position) * inner * size
                            guard let source = source.baseAddress, let target = target.baseAddress else { continue }
                            Layout.copy(inner * size, from: source + from, to: target + to)
                        }
                    }
                }
            }
        }
        return result
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Attention") { try attention($0) }
        registry.register("RotaryEmbedding") { [try rotaryEmbedding($0)] }
        registry.register("SwiGLU") { [try swiGLU($0)] }
        registry.register("TensorScatter") { [try tensorScatter($0)] }
    }
}
