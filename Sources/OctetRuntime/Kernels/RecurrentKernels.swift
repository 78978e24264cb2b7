import Foundation
import OctetGraph

/// LSTM and GRU (forward, reverse, bidirectional; sequence lengths; initial states; layout 0/1).
enum RecurrentKernels {
    /// A gate activation with its optional alpha/beta.
    struct Activation {
        let name: String
        let alpha: Double
        let beta: Double

        func callAsFunction(_ x: Double) -> Double {
            switch name.lowercased() {
            case "sigmoid": return 1 / (1 + Foundation.exp(-x))
            case "tanh": return Foundation.tanh(x)
            case "relu": return max(0, x)
            case "hardsigmoid": return max(0, min(1, alpha * x + beta))
            case "leakyrelu": return x < 0 ? alpha * x : x
            case "thresholdedrelu": return x > alpha ? x : 0
            case "scaledtanh": return alpha * Foundation.tanh(beta * x)
            case "affine": return alpha * x + beta
            case "elu": return x < 0 ? alpha * (Foundation.exp(x) - 1) : x
            case "softsign": return x / (1 + abs(x))
            case "softplus": return Foundation.log(1 + Foundation.exp(x))
            default: return x
            }
        }
    }

    static func activations(_ context: KernelContext, defaults: [String], directions: Int) -> [Activation] {
        let names = context.strings("activations") ?? (0..<directions).flatMap { _ in defaults }
        let alphas = context.floats("activation_alpha") ?? []
        let betas = context.floats("activation_beta") ?? []
        return names.enumerated().map { index, name in
            let lower = name.lowercased()
            let defaultAlpha: Double = lower == "leakyrelu" ? 0.01 : lower == "hardsigmoid" ? 0.2 : 1
            let defaultBeta: Double = lower == "hardsigmoid" ? 0.5 : 0
            return Activation(name: name, alpha: index < alphas.count ? Double(alphas[index]) : defaultAlpha,
                              beta: index < betas.count ? Double(betas[index]) : defaultBeta)
        }
    }

    /// Shared inputs of LSTM and GRU, converted to double precision and sequence-major layout.
    struct Setup {
        let x: [Double]
        let sequence: Int
        let batch: Int
        let inputSize: Int
        let hidden: Int
        let directions: Int
        let lengths: [Int]
        let w: [Double]
        let r: [Double]
        let b: [Double]?
        let initialH: [Double]?
        let layout: Int
        let outputType: DType

        init(_ context: KernelContext, gates: Int) throws {
            let input = try context.input(0)
            layout = context.int("layout", 0)
            let staged = layout == 1 ? try Layout.transpose(input, [1, 0, 2]) : input
            guard staged.rank == 3 else { throw KernelError("X must be 3-D, got \(input.shape)") }
            (sequence, batch, inputSize) = (staged.shape[0], staged.shape[1], staged.shape[2])
            x = try staged.doubles()
            outputType = input.dtype
            hidden = context.int("hidden_size", 0)
            let direction = context.string("direction", "forward")
            directions = direction == "bidirectional" ? 2 : 1
            w = try context.input(1).doubles()
            r = try context.input(2).doubles()
            guard hidden > 0, w.count == directions * gates * hidden * inputSize, r.count == directions * gates * hidden * hidden else {
                throw KernelError("W, R and hidden_size do not agree with X of shape \(input.shape)")
            }
            b = try context.optionalInput(3)?.doubles()
            lengths = try context.optionalInput(4)?.integers() ?? [Int](repeating: sequence, count: batch)
            if let h = context.optionalInput(5) {
                initialH = try (layout == 1 ? Layout.transpose(h, [1, 0, 2]) : h).doubles()
            } else {
                initialH = nil
            }
        }

        /// `W[direction] · x_t` (or R · h) for gate rows, as a flat [batch][gates*hidden] array.
        func project(_ matrix: [Double], direction: Int, rows: Int, columns: Int, vectors: [Double]) -> [Double] {
            var result = [Double](repeating: 0, count: batch * rows)
            let base = direction * rows * columns
            for n in 0..<batch {
                for row in 0..<rows {
                    var total = 0.0
                    let weights = base + row * columns
                    for column in 0..<columns { total += matrix[weights + column] * vectors[n * columns + column] }
                    result[n * rows + row] = total
                }
            }
            return result
        }

        /// Assembles Y [seq, dirs, batch, hidden] (or batch-major for layout 1) and a final state.
        func outputs(_ y: [Double], _ finals: [[Double]]) throws -> [Tensor] {
            var yTensor = try Tensor(shape: [sequence, directions, batch, hidden], scalars: y).converted(to: outputType)
            var states = try finals.map { try Tensor(shape: [directions, batch, hidden], scalars: $0).converted(to: outputType) }
            if layout == 1 {
                yTensor = try Layout.transpose(yTensor, [2, 0, 1, 3])
                states = try states.map { try Layout.transpose($0, [1, 0, 2]) }
            }
            return [yTensor] + states
        }
    }

    static func lstm(_ context: KernelContext) throws -> [Tensor] {
        let s = try Setup(context, gates: 4)
        let (hidden, batch) = (s.hidden, s.batch)
        let f = activations(context, defaults: ["Sigmoid", "Tanh", "Tanh"], directions: s.directions)
        let clip = context.has("clip") ? Double(context.float("clip", 0)) : nil
        let inputForget = context.int("input_forget", 0) != 0
        var initialC: [Double]?
        if let c = context.optionalInput(6) { initialC = try (s.layout == 1 ? Layout.transpose(c, [1, 0, 2]) : c).doubles() }
        let peepholes = try context.optionalInput(7)?.doubles()
        var y = [Double](repeating: 0, count: s.sequence * s.directions * batch * hidden)
        var finalH = [Double](repeating: 0, count: s.directions * batch * hidden)
        var finalC = finalH
        for direction in 0..<s.directions {
            let (g, h, c) = (f[3 * direction], f[3 * direction + 1], f[3 * direction + 2])
            var state = Array(s.initialH?[(direction * batch * hidden)..<((direction + 1) * batch * hidden)] ?? [Double](repeating: 0, count: batch * hidden)[...])
            var cell = Array(initialC?[(direction * batch * hidden)..<((direction + 1) * batch * hidden)] ?? [Double](repeating: 0, count: batch * hidden)[...])
            let reverse = direction == 1 || context.string("direction", "forward") == "reverse"
            func clipped(_ v: Double) -> Double { clip.map { min(max(v, -$0), $0) } ?? v }
            for step in 0..<s.sequence {
                var timeInputs = [Double](repeating: 0, count: batch * s.inputSize)
                for n in 0..<batch where step < s.lengths[n] {
                    let time = reverse ? s.lengths[n] - 1 - step : step
                    for i in 0..<s.inputSize { timeInputs[n * s.inputSize + i] = s.x[(time * batch + n) * s.inputSize + i] }
                }
                let wx = s.project(s.w, direction: direction, rows: 4 * hidden, columns: s.inputSize, vectors: timeInputs)
                let rh = s.project(s.r, direction: direction, rows: 4 * hidden, columns: hidden, vectors: state)
                for n in 0..<batch where step < s.lengths[n] {
                    let time = reverse ? s.lengths[n] - 1 - step : step
                    for j in 0..<hidden {
                        // Gate k (0 input, 1 output, 2 forget, 3 cell) before its activation.
                        func gate(_ k: Int) -> Double {
                            var value = wx[n * 4 * hidden + k * hidden + j] + rh[n * 4 * hidden + k * hidden + j]
                            if let b = s.b {
                                value += b[direction * 8 * hidden + k * hidden + j] + b[direction * 8 * hidden + 4 * hidden + k * hidden + j]
                            }
                            return value
                        }
                        func peep(_ k: Int) -> Double { peepholes?[direction * 3 * hidden + k * hidden + j] ?? 0 }
                        let previous = cell[n * hidden + j]
                        let i = g(clipped(gate(0) + peep(0) * previous))
                        let forget = inputForget ? 1 - i : g(clipped(gate(2) + peep(2) * previous))
                        let newCell = forget * previous + i * c(clipped(gate(3)))
                        let o = g(clipped(gate(1) + peep(1) * newCell))
                        cell[n * hidden + j] = newCell
                        state[n * hidden + j] = o * h(newCell)
                        y[((time * s.directions + direction) * batch + n) * hidden + j] = state[n * hidden + j]
                    }
                }
            }
            for i in 0..<(batch * hidden) {
                finalH[direction * batch * hidden + i] = state[i]
                finalC[direction * batch * hidden + i] = cell[i]
            }
        }
        return try s.outputs(y, [finalH, finalC])
    }

    static func gru(_ context: KernelContext) throws -> [Tensor] {
        let s = try Setup(context, gates: 3)
        let (hidden, batch) = (s.hidden, s.batch)
        let f = activations(context, defaults: ["Sigmoid", "Tanh"], directions: s.directions)
        let linearBeforeReset = context.int("linear_before_reset", 0) != 0
        let clip = context.has("clip") ? Double(context.float("clip", 0)) : nil
        var y = [Double](repeating: 0, count: s.sequence * s.directions * batch * hidden)
        var finalH = [Double](repeating: 0, count: s.directions * batch * hidden)
        for direction in 0..<s.directions {
            let (g, h) = (f[2 * direction], f[2 * direction + 1])
            var state = Array(s.initialH?[(direction * batch * hidden)..<((direction + 1) * batch * hidden)] ?? [Double](repeating: 0, count: batch * hidden)[...])
            let reverse = direction == 1 || context.string("direction", "forward") == "reverse"
            func bias(_ k: Int, _ j: Int, recurrent: Bool) -> Double {
                s.b?[direction * 6 * hidden + (recurrent ? 3 * hidden : 0) + k * hidden + j] ?? 0
            }
            for step in 0..<s.sequence {
                var timeInputs = [Double](repeating: 0, count: batch * s.inputSize)
                for n in 0..<batch where step < s.lengths[n] {
                    let time = reverse ? s.lengths[n] - 1 - step : step
                    for i in 0..<s.inputSize { timeInputs[n * s.inputSize + i] = s.x[(time * batch + n) * s.inputSize + i] }
                }
                let wx = s.project(s.w, direction: direction, rows: 3 * hidden, columns: s.inputSize, vectors: timeInputs)
                let rh = s.project(s.r, direction: direction, rows: 3 * hidden, columns: hidden, vectors: state)
                var next = state
                func clipped(_ v: Double) -> Double { clip.map { min(max(v, -$0), $0) } ?? v }
                for n in 0..<batch where step < s.lengths[n] {
                    let time = reverse ? s.lengths[n] - 1 - step : step
                    var reset = [Double](repeating: 0, count: hidden)
                    for j in 0..<hidden {
                        reset[j] = g(clipped(wx[n * 3 * hidden + hidden + j] + rh[n * 3 * hidden + hidden + j] + bias(1, j, recurrent: false) + bias(1, j, recurrent: true)))
                    }
                    // (r ⊙ h) · R_h, needed when the reset is applied before the linear map.
                    var gatedRecurrent = [Double](repeating: 0, count: hidden)
                    if !linearBeforeReset {
                        let gated = (0..<hidden).map { reset[$0] * state[n * hidden + $0] }
                        let base = direction * 3 * hidden * hidden + 2 * hidden * hidden
                        for row in 0..<hidden {
                            var total = 0.0
                            for column in 0..<hidden { total += s.r[base + row * hidden + column] * gated[column] }
                            gatedRecurrent[row] = total
                        }
                    }
                    for j in 0..<hidden {
                        let z = g(clipped(wx[n * 3 * hidden + j] + rh[n * 3 * hidden + j] + bias(0, j, recurrent: false) + bias(0, j, recurrent: true)))
                        let recurrentTerm = linearBeforeReset
                            ? reset[j] * (rh[n * 3 * hidden + 2 * hidden + j] + bias(2, j, recurrent: true))
                            : gatedRecurrent[j] + bias(2, j, recurrent: true)
                        let candidate = h(clipped(wx[n * 3 * hidden + 2 * hidden + j] + bias(2, j, recurrent: false) + recurrentTerm))
                        next[n * hidden + j] = (1 - z) * candidate + z * state[n * hidden + j]
                        y[((time * s.directions + direction) * batch + n) * hidden + j] = next[n * hidden + j]
                    }
                }
                state = next
            }
            for i in 0..<(batch * hidden) { finalH[direction * batch * hidden + i] = state[i] }
        }
        return try s.outputs(y, [finalH])
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("LSTM") { try lstm($0) }
        registry.register("GRU") { try gru($0) }
    }
}
