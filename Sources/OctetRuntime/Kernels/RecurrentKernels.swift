import COctetKernels
import Foundation
import OctetGraph

/// LSTM and GRU (forward, reverse, bidirectional; sequence lengths; initial states; layout 0/1).
enum RecurrentKernels {
    /// A gate activation with its optional alpha/beta (the name resolved once, not per value).
    struct Activation {
        enum Kind { case sigmoid, tanh, relu, hardSigmoid, leakyRelu, thresholdedRelu, scaledTanh, affine, elu, softsign, softplus, identity }
        let kind: Kind
        let alpha: Double
        let beta: Double

        init(name: String, alpha: Double, beta: Double) {
            let kinds: [String: Kind] = ["sigmoid": .sigmoid, "tanh": .tanh, "relu": .relu, "hardsigmoid": .hardSigmoid,
                                         "leakyrelu": .leakyRelu, "thresholdedrelu": .thresholdedRelu, "scaledtanh": .scaledTanh,
                                         "affine": .affine, "elu": .elu, "softsign": .softsign, "softplus": .softplus]
            kind = kinds[name.lowercased()] ?? .identity
            self.alpha = alpha
            self.beta = beta
        }

        func callAsFunction(_ x: Double) -> Double {
            switch kind {
            case .sigmoid: return 1 / (1 + Foundation.exp(-x))
            case .tanh: return Foundation.tanh(x)
            case .relu: return max(0, x)
            case .hardSigmoid: return max(0, min(1, alpha * x + beta))
            case .leakyRelu: return x < 0 ? alpha * x : x
            case .thresholdedRelu: return x > alpha ? x : 0
            case .scaledTanh: return alpha * Foundation.tanh(beta * x)
            case .affine: return alpha * x + beta
            case .elu: return x < 0 ? alpha * (Foundation.exp(x) - 1) : x
            case .softsign: return x / (1 + abs(x))
            case .softplus: return Foundation.log(1 + Foundation.exp(x))
            case .identity: return x
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

    /// Shared inputs of LSTM and GRU in float32, sequence-major, with the matrix products done
    /// by the blocked GEMM: all input projections at once, then one state projection per step.
    struct Setup {
        let x: Tensor
        let sequence: Int
        let batch: Int
        let inputSize: Int
        let hidden: Int
        let directions: Int
        let reverseOnly: Bool
        let lengths: [Int]
        /// Per direction: Wᵀ [inputSize, gates·hidden] and Rᵀ [hidden, gates·hidden].
        let inputWeights: [Tensor]
        let stateWeights: [Tensor]
        /// The same, packed for the GEMM (once per session when W and R are constants).
        let packedInputWeights: [GEMM.PackedMatrix]
        let packedStateWeights: [GEMM.PackedMatrix]
        let bias: [Float]?
        let initialH: [Float]?
        let layout: Int
        let outputType: DType

        init(_ context: KernelContext, gates: Int) throws {
            let input = try context.input(0)
            layout = context.int("layout", 0)
            let staged = layout == 1 ? try Layout.transpose(input, [1, 0, 2]) : input
            guard staged.rank == 3 else { throw KernelError("X must be 3-D, got \(input.shape)") }
            (sequence, batch, inputSize) = (staged.shape[0], staged.shape[1], staged.shape[2])
            x = try staged.converted(to: .float32).unsafeReshaped([sequence * batch, inputSize])
            outputType = input.dtype
            hidden = context.int("hidden_size", 0)
            let direction = context.string("direction", "forward")
            directions = direction == "bidirectional" ? 2 : 1
            reverseOnly = direction == "reverse"
            let w = try context.input(1).converted(to: .float32)
            let r = try context.input(2).converted(to: .float32)
            let rows = try Size.multiply(gates, hidden, for: "gates × hidden_size")
            guard hidden > 0, w.shape == [directions, rows, inputSize], r.shape == [directions, rows, hidden] else {
                throw KernelError("W \(w.shape) and R \(r.shape) do not fit X \(input.shape) with hidden_size \(hidden)")
            }
            let (count, width, size) = (directions, inputSize, hidden)
            let make = {
                try Weights(input: (0..<count).map { d in
                    try Layout.transpose(Layout.narrow(w, axis: 0, start: d, end: d + 1).unsafeReshaped([rows, width]), [1, 0])
                }, state: (0..<count).map { d in
                    try Layout.transpose(Layout.narrow(r, axis: 0, start: d, end: d + 1).unsafeReshaped([rows, size]), [1, 0])
                })
            }
            let weights = context.isConstant(1) && context.isConstant(2) ? try context.prepared("recurrent weights", make) : try make()
            (inputWeights, stateWeights) = (weights.input, weights.state)
            (packedInputWeights, packedStateWeights) = (weights.packedInput, weights.packedState)
            bias = try context.optionalInput(3)?.converted(to: .float32).scalars(as: Float.self)
            lengths = try context.optionalInput(4)?.integers() ?? [Int](repeating: sequence, count: batch)
            if let h = context.optionalInput(5) {
                initialH = try (layout == 1 ? Layout.transpose(h, [1, 0, 2]) : h).converted(to: .float32).scalars(as: Float.self)
            } else {
                initialH = nil
            }
            let state = directions * batch * hidden
            guard bias.map({ $0.count == directions * 2 * rows }) ?? true, lengths.count == batch,
                  lengths.allSatisfy({ $0 >= 0 && $0 <= sequence }), initialH.map({ $0.count == state }) ?? true else {
                throw KernelError("B, sequence_lens or initial_h do not fit X \(input.shape), hidden_size \(hidden) and \(directions) direction(s)")
            }
        }

        /// X · Wᵀ for every time step: [sequence·batch, gates·hidden].
        func projectInputs(direction: Int) -> [Float] {
            LinearKernels.multiply(x, inputWeights[direction], m: sequence * batch, n: inputWeights[direction].shape[1], k: inputSize,
                                   packed: packedInputWeights[direction]).scalars(as: Float.self)
        }

        /// h · Rᵀ for one step: [batch, gates·hidden].
        func projectState(_ state: [Float], direction: Int) -> [Float] {
            let h = Tensor(shape: [batch, hidden], scalars: state)
            return LinearKernels.multiply(h, stateWeights[direction], m: batch, n: stateWeights[direction].shape[1], k: hidden,
                                          packed: packedStateWeights[direction]).scalars(as: Float.self)
        }

        /// The state a direction starts from.
        func start(_ values: [Float]?, direction: Int) -> [Float] {
            guard let values else { return [Float](repeating: 0, count: batch * hidden) }
            return Array(values[(direction * batch * hidden)..<((direction + 1) * batch * hidden)])
        }

        /// Whether direction `d` runs backwards in time.
        func reversed(_ direction: Int) -> Bool { direction == 1 || reverseOnly }

        /// Assembles Y [seq, dirs, batch, hidden] (batch-major for layout 1) and final states.
        func outputs(_ y: [Float], _ finals: [[Float]]) throws -> [Tensor] {
            var yTensor = try Tensor(shape: [sequence, directions, batch, hidden], scalars: y).converted(to: outputType)
            var states = try finals.map { try Tensor(shape: [directions, batch, hidden], scalars: $0).converted(to: outputType) }
            if layout == 1 {
                yTensor = try Layout.transpose(yTensor, [2, 0, 1, 3])
                states = try states.map { try Layout.transpose($0, [1, 0, 2]) }
            }
            return [yTensor] + states
        }
    }

    /// Per direction Wᵀ and Rᵀ, as tensors and packed for the GEMM.
    final class Weights: @unchecked Sendable {
        let input: [Tensor]
        let state: [Tensor]
        let packedInput: [GEMM.PackedMatrix]
        let packedState: [GEMM.PackedMatrix]

        /// Packs Wᵀ [inputSize, gates·hidden] and Rᵀ [hidden, gates·hidden] of each direction.
        init(input: [Tensor], state: [Tensor]) {
            self.input = input
            self.state = state
            func pack(_ matrix: Tensor) -> GEMM.PackedMatrix {
                matrix.withElements(as: Float.self) { values in
                    GEMM.PackedMatrix(k: matrix.shape[0], n: matrix.shape[1], b: values.baseAddress)
                }
            }
            packedInput = input.map(pack)
            packedState = state.map(pack)
        }
    }

    /// One batch row of one LSTM step with the default gates: gates = x·Wᵀ + h·Rᵀ + Wb + Rb
    /// (order i, o, f, c), Sigmoid on i, o, f and Tanh on c, then c' = f ⊙ c + i ⊙ g and
    /// h' = o ⊙ tanh(c'), written to `cell`, `state` (at `offset`) and `y` (hidden floats).
    private static func standardStep(wx: [Float], inputRow: Int, rh: [Float], stateRow: Int, bias: [Float], gates: inout [Float],
                                     cellTanh: inout [Float], cell: inout [Float], state: inout [Float], offset: Int,
                                     y: UnsafeMutablePointer<Float>) {
        let hidden = cellTanh.count
        gates.withUnsafeMutableBufferPointer { gate in
            cellTanh.withUnsafeMutableBufferPointer { squashed in
                guard let pre = gate.baseAddress, let tanhCell = squashed.baseAddress else { return }
                wx.withUnsafeBufferPointer { input in
                    rh.withUnsafeBufferPointer { recurrent in
                        bias.withUnsafeBufferPointer { b in
                            for k in 0..<(4 * hidden) { pre[k] = input[inputRow + k] + recurrent[stateRow + k] + b[k] }
                        }
                    }
                }
                octet_unary_f32(Int32(OCTET_UNARY_SIGMOID), pre, pre, 3 * hidden, 0, 0)
                octet_unary_f32(Int32(OCTET_UNARY_TANH), pre + 3 * hidden, pre + 3 * hidden, hidden, 0, 0)
                cell.withUnsafeMutableBufferPointer { c in
                    for j in 0..<hidden {
                        let updated = pre[2 * hidden + j] * c[offset + j] + pre[j] * pre[3 * hidden + j]
                        c[offset + j] = updated
                        tanhCell[j] = updated
                    }
                }
                octet_unary_f32(Int32(OCTET_UNARY_TANH), tanhCell, tanhCell, hidden, 0, 0)
                state.withUnsafeMutableBufferPointer { h in
                    for j in 0..<hidden {
                        h[offset + j] = pre[hidden + j] * tanhCell[j]
                        y[j] = h[offset + j]
                    }
                }
            }
        }
    }

    static func lstm(_ context: KernelContext) throws -> [Tensor] {
        let s = try Setup(context, gates: 4)
        let (hidden, batch) = (s.hidden, s.batch)
        let f = activations(context, defaults: ["Sigmoid", "Tanh", "Tanh"], directions: s.directions)
        let clip = context.has("clip") ? Double(context.float("clip", 0)) : nil
        let inputForget = context.int("input_forget", 0) != 0
        var initialC: [Float]?
        if let c = context.optionalInput(6) {
            initialC = try (s.layout == 1 ? Layout.transpose(c, [1, 0, 2]) : c).converted(to: .float32).scalars(as: Float.self)
        }
        let peepholes = try context.optionalInput(7)?.converted(to: .float32).scalars(as: Float.self)
        guard initialC.map({ $0.count == s.directions * batch * hidden }) ?? true,
              peepholes.map({ $0.count == s.directions * 3 * hidden }) ?? true else {
            throw KernelError("initial_c or P do not fit hidden_size \(hidden) and \(s.directions) direction(s)")
        }
        guard f.count >= 3 * s.directions else { throw KernelError("activations must name 3 functions per direction") }
        var y = [Float](repeating: 0, count: s.sequence * s.directions * batch * hidden)
        var finalH = [Float](repeating: 0, count: s.directions * batch * hidden)
        var finalC = finalH
        func clipped(_ v: Double) -> Double { clip.map { min(max(v, -$0), $0) } ?? v }
        /// One direction, writing its own slots of Y and the final states.
        func run(_ direction: Int, _ y: UnsafeMutablePointer<Float>, _ finalH: UnsafeMutablePointer<Float>, _ finalC: UnsafeMutablePointer<Float>) {
            let (g, h, c) = (f[3 * direction], f[3 * direction + 1], f[3 * direction + 2])
            var state = s.start(s.initialH, direction: direction)
            var cell = s.start(initialC, direction: direction)
            let wx = s.projectInputs(direction: direction)
            // The default gates (Sigmoid, Tanh, Tanh; no clip, peepholes or coupled forget gate)
            // in float through the vectorized C activations; anything else per value in double.
            let standard = g.kind == .sigmoid && c.kind == .tanh && h.kind == .tanh && clip == nil && peepholes == nil && !inputForget
            let gateBias: [Float] = (0..<(4 * hidden)).map { k in
                s.bias.map { $0[direction * 8 * hidden + k] + $0[direction * 8 * hidden + 4 * hidden + k] } ?? 0
            }
            var gates = [Float](repeating: 0, count: 4 * hidden)
            var cellTanh = [Float](repeating: 0, count: hidden)
            for step in 0..<s.sequence {
                let rh = s.projectState(state, direction: direction)
                for n in 0..<batch where step < s.lengths[n] && standard {
                    let time = s.reversed(direction) ? s.lengths[n] - 1 - step : step
                    standardStep(wx: wx, inputRow: (time * batch + n) * 4 * hidden, rh: rh, stateRow: n * 4 * hidden, bias: gateBias,
                                 gates: &gates, cellTanh: &cellTanh, cell: &cell, state: &state, offset: n * hidden,
                                 y: y + ((time * s.directions + direction) * batch + n) * hidden)
                }
                for n in 0..<batch where step < s.lengths[n] && !standard {
                    let time = s.reversed(direction) ? s.lengths[n] - 1 - step : step
                    let inputRow = (time * batch + n) * 4 * hidden
                    for j in 0..<hidden {
                        // Gate k (0 input, 1 output, 2 forget, 3 cell) before its activation.
                        func gate(_ k: Int) -> Double {
                            var value = Double(wx[inputRow + k * hidden + j]) + Double(rh[n * 4 * hidden + k * hidden + j])
                            if let b = s.bias {
                                value += Double(b[direction * 8 * hidden + k * hidden + j]) + Double(b[direction * 8 * hidden + 4 * hidden + k * hidden + j])
                            }
                            return value
                        }
                        func peep(_ k: Int) -> Double { Double(peepholes?[direction * 3 * hidden + k * hidden + j] ?? 0) }
                        let previous = Double(cell[n * hidden + j])
                        let i = g(clipped(gate(0) + peep(0) * previous))
                        let forget = inputForget ? 1 - i : g(clipped(gate(2) + peep(2) * previous))
                        let newCell = forget * previous + i * c(clipped(gate(3)))
                        let o = g(clipped(gate(1) + peep(1) * newCell))
                        cell[n * hidden + j] = Float(newCell)
                        state[n * hidden + j] = Float(o * h(newCell))
                        y[((time * s.directions + direction) * batch + n) * hidden + j] = state[n * hidden + j]
                    }
                }
            }
            for i in 0..<(batch * hidden) {
                finalH[direction * batch * hidden + i] = state[i]
                finalC[direction * batch * hidden + i] = cell[i]
            }
        }
        // The two directions of a bidirectional LSTM are independent: one thread each.
        y.withUnsafeMutableBufferPointer { yBuffer in
            finalH.withUnsafeMutableBufferPointer { hBuffer in
                finalC.withUnsafeMutableBufferPointer { cBuffer in
                    guard let yBase = yBuffer.baseAddress, let hBase = hBuffer.baseAddress, let cBase = cBuffer.baseAddress else { return }
                    let targets = UncheckedSendable((yBase, hBase, cBase))
                    ThreadPool.parallelFor(s.directions) { range in
                        for direction in range { run(direction, targets.value.0, targets.value.1, targets.value.2) }
                    }
                }
            }
        }
        return try s.outputs(y, [finalH, finalC])
    }

    static func gru(_ context: KernelContext) throws -> [Tensor] {
        let s = try Setup(context, gates: 3)
        let (hidden, batch) = (s.hidden, s.batch)
        let f = activations(context, defaults: ["Sigmoid", "Tanh"], directions: s.directions)
        guard f.count >= 2 * s.directions else { throw KernelError("activations must name 2 functions per direction") }
        let linearBeforeReset = context.int("linear_before_reset", 0) != 0
        let clip = context.has("clip") ? Double(context.float("clip", 0)) : nil
        var y = [Float](repeating: 0, count: s.sequence * s.directions * batch * hidden)
        var finalH = [Float](repeating: 0, count: s.directions * batch * hidden)
        func clipped(_ v: Double) -> Double { clip.map { min(max(v, -$0), $0) } ?? v }
        for direction in 0..<s.directions {
            let (g, h) = (f[2 * direction], f[2 * direction + 1])
            var state = s.start(s.initialH, direction: direction)
            func bias(_ k: Int, _ j: Int, recurrent: Bool) -> Double {
                Double(s.bias?[direction * 6 * hidden + (recurrent ? 3 * hidden : 0) + k * hidden + j] ?? 0)
            }
            let wx = s.projectInputs(direction: direction)
            // Rᵀ of the candidate gate alone, for (r ⊙ h) · R_hᵀ when the reset comes first.
            let candidateWeights = try Layout.narrow(s.stateWeights[direction], axis: 1, start: 2 * hidden, end: 3 * hidden)
            for step in 0..<s.sequence {
                let rh = s.projectState(state, direction: direction)
                var next = state
                var reset = [Float](repeating: 0, count: batch * hidden)
                for n in 0..<batch where step < s.lengths[n] {
                    let time = s.reversed(direction) ? s.lengths[n] - 1 - step : step
                    let inputRow = (time * batch + n) * 3 * hidden
                    for j in 0..<hidden {
                        reset[n * hidden + j] = Float(g(clipped(Double(wx[inputRow + hidden + j]) + Double(rh[n * 3 * hidden + hidden + j])
                            + bias(1, j, recurrent: false) + bias(1, j, recurrent: true))))
                    }
                }
                var gated = [Float](repeating: 0, count: batch * hidden)
                if !linearBeforeReset {
                    let product = (0..<(batch * hidden)).map { reset[$0] * state[$0] }
                    gated = LinearKernels.multiply(Tensor(shape: [batch, hidden], scalars: product), candidateWeights,
                                                   m: batch, n: hidden, k: hidden).scalars(as: Float.self)
                }
                for n in 0..<batch where step < s.lengths[n] {
                    let time = s.reversed(direction) ? s.lengths[n] - 1 - step : step
                    let inputRow = (time * batch + n) * 3 * hidden
                    for j in 0..<hidden {
                        let z = g(clipped(Double(wx[inputRow + j]) + Double(rh[n * 3 * hidden + j]) + bias(0, j, recurrent: false)
                            + bias(0, j, recurrent: true)))
                        let recurrentTerm = linearBeforeReset
                            ? Double(reset[n * hidden + j]) * (Double(rh[n * 3 * hidden + 2 * hidden + j]) + bias(2, j, recurrent: true))
                            : Double(gated[n * hidden + j]) + bias(2, j, recurrent: true)
                        let candidate = h(clipped(Double(wx[inputRow + 2 * hidden + j]) + bias(2, j, recurrent: false) + recurrentTerm))
                        next[n * hidden + j] = Float((1 - z) * candidate + z * Double(state[n * hidden + j]))
                        y[((time * s.directions + direction) * batch + n) * hidden + j] = next[n * hidden + j]
                    }
                }
                state = next
            }
            for i in 0..<(batch * hidden) { finalH[direction * batch * hidden + i] = state[i] }
        }
        return try s.outputs(y, [finalH])
    }

    /// The simple recurrent cell: h = f(X·Wᵀ + h·Rᵀ + Wb + Rb), f Tanh by default.
    static func rnn(_ context: KernelContext) throws -> [Tensor] {
        let s = try Setup(context, gates: 1)
        let (hidden, batch) = (s.hidden, s.batch)
        let f = activations(context, defaults: ["Tanh"], directions: s.directions)
        guard f.count >= s.directions else { throw KernelError("activations must name 1 function per direction") }
        let clip = context.has("clip") ? Double(context.float("clip", 0)) : nil
        var y = [Float](repeating: 0, count: s.sequence * s.directions * batch * hidden)
        var finalH = [Float](repeating: 0, count: s.directions * batch * hidden)
        for direction in 0..<s.directions {
            var state = s.start(s.initialH, direction: direction)
            let wx = s.projectInputs(direction: direction)
            for step in 0..<s.sequence {
                let rh = s.projectState(state, direction: direction)
                var next = state
                for n in 0..<batch where step < s.lengths[n] {
                    let time = s.reversed(direction) ? s.lengths[n] - 1 - step : step
                    for j in 0..<hidden {
                        var value = Double(wx[(time * batch + n) * hidden + j]) + Double(rh[n * hidden + j])
                        if let bias = s.bias {
                            value += Double(bias[direction * 2 * hidden + j]) + Double(bias[direction * 2 * hidden + hidden + j])
                        }
                        if let clip { value = min(max(value, -clip), clip) }
                        next[n * hidden + j] = Float(f[direction](value))
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
        registry.register("RNN") { try rnn($0) }
        registry.register("LSTM") { try lstm($0) }
        registry.register("GRU") { try gru($0) }
    }
}
