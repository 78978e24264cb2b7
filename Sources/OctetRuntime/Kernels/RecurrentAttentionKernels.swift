import Foundation
import OctetGraph

/// LinearAttention and CausalConvWithState: the stateful layers of linear-attention and
/// state-space decoders (Gated DeltaNet, Mamba), each carrying a state from step to step.
enum RecurrentAttentionKernels {
    /// LinearAttention: a recurrent state S [d_k, d_v] per key/value head, updated per time step
    /// by `update_rule` (linear: S += k vᵀ; gated: S ← S·exp(g) first; delta: v ← β(v − Sᵀk)),
    /// read as scale · qᵀS. Inputs [B, T, H·D]; outputs [B, T, H_q·d_v] and the final state.
    static func linearAttention(_ context: KernelContext) throws -> [Tensor] {
        let (q, k, v) = (try context.input(0), try context.input(1), try context.input(2))
        let rule = context.string("update_rule", "gated_delta")
        guard ["linear", "gated", "delta", "gated_delta"].contains(rule) else {
            throw KernelError("update_rule \"\(rule)\" is not linear, gated, delta or gated_delta")
        }
        let qHeads = context.int("q_num_heads", 0), kvHeads = context.int("kv_num_heads", 0)
        guard qHeads > 0, kvHeads > 0, qHeads % kvHeads == 0 else {
            throw KernelError("q_num_heads (\(qHeads)) must be a positive multiple of kv_num_heads (\(kvHeads))")
        }
        let query = try AttentionKernels.Heads(q, heads: qHeads, name: "query")
        let key = try AttentionKernels.Heads(k, heads: kvHeads, name: "key")
        let value = try AttentionKernels.Heads(v, heads: kvHeads, name: "value")
        guard q.rank == 3, key.batch == query.batch, value.batch == query.batch, key.sequence == query.sequence,
              value.sequence == query.sequence, key.size == query.size else {
            throw KernelError("query \(q.shape), key \(k.shape) and value \(v.shape) do not fit together")
        }
        let (batch, steps, dk, dv) = (query.batch, query.sequence, query.size, value.size)
        let gating = rule.hasPrefix("gated"), delta = rule.hasSuffix("delta")
        let decay = context.optionalInput(4), beta = context.optionalInput(5)
        guard (decay != nil) == gating, (beta != nil) == delta else {
            throw KernelError("update_rule \(rule) \(gating ? "needs" : "forbids") decay and \(delta ? "needs" : "forbids") beta")
        }
        let decayValues = try decay?.doubles(), betaValues = try beta?.doubles()
        let decayWidth = decay?.shape.last ?? 0, betaWidth = beta?.shape.last ?? 0
        if let decay, decay.shape != [batch, steps, kvHeads] && decay.shape != [batch, steps, kvHeads * dk] {
            throw KernelError("decay \(decay.shape) must be [\(batch), \(steps), \(kvHeads) or \(kvHeads * dk)]")
        }
        if let beta, beta.shape != [batch, steps, kvHeads] && beta.shape != [batch, steps, 1] {
            throw KernelError("beta \(beta.shape) must be [\(batch), \(steps), \(kvHeads) or 1]")
        }
        var state = [Double](repeating: 0, count: batch * kvHeads * dk * dv)
        let past = context.optionalInput(3)
        if let past {
            guard past.shape == [batch, kvHeads, dk, dv] else {
                throw KernelError("past_state \(past.shape) must be [\(batch), \(kvHeads), \(dk), \(dv)]")
            }
            state = try past.doubles()
        }
        let scaleAttribute = Double(context.float("scale", 0))
        let scale = scaleAttribute == 0 ? 1 / Double(dk).squareRoot() : scaleAttribute
        let group = qHeads / kvHeads
        var out = [Double](repeating: 0, count: batch * steps * qHeads * dv)
        var kv = [Double](repeating: 0, count: dv)
        for b in 0..<batch {
            for t in 0..<steps {
                for h in 0..<kvHeads {
                    let s = (b * kvHeads + h) * dk * dv
                    if let decayValues {
                        for i in 0..<dk {
                            let g = decayWidth == kvHeads ? decayValues[(b * steps + t) * kvHeads + h]
                                : decayValues[(b * steps + t) * kvHeads * dk + h * dk + i]
                            let factor = Foundation.exp(g)
                            for j in 0..<dv { state[s + i * dv + j] *= factor }
                        }
                    }
                    for j in 0..<dv { kv[j] = value.at(b, h, t, j) }
                    if let betaValues {
                        let weight = betaValues[(b * steps + t) * betaWidth + (betaWidth == 1 ? 0 : h)]
                        for j in 0..<dv {
                            var retrieved = 0.0
                            for i in 0..<dk { retrieved += state[s + i * dv + j] * key.at(b, h, t, i) }
                            kv[j] = weight * (kv[j] - retrieved)
                        }
                    }
                    for i in 0..<dk {
                        let ki = key.at(b, h, t, i)
                        for j in 0..<dv { state[s + i * dv + j] += ki * kv[j] }
                    }
                    for qh in h * group..<(h + 1) * group {
                        for j in 0..<dv {
                            var total = 0.0
                            for i in 0..<dk { total += query.at(b, qh, t, i) * state[s + i * dv + j] }
                            out[((b * steps + t) * qHeads + qh) * dv + j] = scale * total
                        }
                    }
                }
            }
        }
        return [try Tensor(shape: [batch, steps, qHeads * dv], scalars: out).converted(to: q.dtype),
                try Tensor(shape: [batch, kvHeads, dk, dv], scalars: state).converted(to: past?.dtype ?? q.dtype)]
    }

    /// CausalConvWithState: depthwise 1-D convolution over the past state followed by the input
    /// (optionally SiLU), and the last k − 1 positions as the next state.
    static func causalConvWithState(_ context: KernelContext) throws -> [Tensor] {
        let input = try context.input(0), weight = try context.input(1)
        let activation = context.string("activation", "none")
        guard ["none", "silu", "swish"].contains(activation) else {
            throw KernelError("activation \"\(activation)\" is not none, silu or swish")
        }
        guard input.rank == 3, weight.rank == 3, weight.shape[0] == input.shape[1], weight.shape[1] == 1, weight.shape[2] >= 1 else {
            throw KernelError("input \(input.shape) and weight \(weight.shape) must be [B, C, L] and [C, 1, k]")
        }
        let (batch, channels, length, k) = (input.shape[0], input.shape[1], input.shape[2], weight.shape[2])
        let past = try context.optionalInput(3).map { tensor -> [Double] in
            guard tensor.shape == [batch, channels, k - 1] else {
                throw KernelError("past_state \(tensor.shape) must be [\(batch), \(channels), \(k - 1)]")
            }
            return try tensor.doubles()
        }
        let bias = try context.optionalInput(2)?.doubles()
        if let bias, bias.count != channels { throw KernelError("bias holds \(bias.count) values for \(channels) channels") }
        let xs = try input.doubles(), ws = try weight.doubles()
        let total = length + k - 1
        var out = [Double](repeating: 0, count: batch * channels * length)
        var state = [Double](repeating: 0, count: batch * channels * (k - 1))
        for b in 0..<batch {
            for c in 0..<channels {
                let row = b * channels + c
                let padded = (0..<total).map { p in p < k - 1 ? past?[row * (k - 1) + p] ?? 0 : xs[row * length + p - (k - 1)] }
                for t in 0..<length {
                    var sum = bias?[c] ?? 0
                    for j in 0..<k { sum += ws[c * k + j] * padded[t + j] }
                    if activation != "none" { sum = sum / (1 + Foundation.exp(-sum)) }
                    out[row * length + t] = sum
                }
                for p in 0..<(k - 1) { state[row * (k - 1) + p] = padded[total - (k - 1) + p] }
            }
        }
        return [try Tensor(shape: input.shape, scalars: out).converted(to: input.dtype),
                try Tensor(shape: [batch, channels, k - 1], scalars: state).converted(to: input.dtype)]
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("LinearAttention") { try linearAttention($0) }
        registry.register("CausalConvWithState") { try causalConvWithState($0) }
    }
}
