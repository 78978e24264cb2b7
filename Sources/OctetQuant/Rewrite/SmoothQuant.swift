import Foundation
import OctetData
import OctetGraph
import OctetRuntime

/// SmoothQuant-style scale migration for one MatMul or Gemm with a constant weight: per input
/// channel k, s_k = max|X_k|^α / max|W_k|^(1−α); the activation is divided by s (a `Mul` by 1/s
/// inserted before this node only) and weight row k multiplied by s, so the product is unchanged
/// while the activation's channel outliers move into the weights, which are quantized per
/// output channel. The smoothed activation's range is its exact largest |x|, max_k max|X_k| / s_k.
public enum SmoothQuant {
    /// A node that can be smoothed: its activation input and constant weight, and K.
    public struct Candidate: Sendable, Equatable {
        /// The node's name.
        public var node: String
        /// The activation (input 0).
        public var activation: String
        /// The weight initializer (input 1).
        public var weight: String
        /// Input channels (the activation's last axis).
        public var channels: Int
    }

    /// The smoothing of one node.
    public struct Result {
        /// The model with the Mul inserted and the weight scaled.
        public var model: Model
        /// The smoothed activation the node now reads.
        public var smoothed: String
        /// Its range (minmax: the exact largest |x| after smoothing).
        public var range: TensorRange
    }

    /// Named MatMul nodes with a 2-D initializer weight [K, N], and Gemm nodes without transA
    /// whose B is an initializer ([K, N], or [N, K] with transB).
    public static func candidates(in graph: Graph) -> [Candidate] {
        let initializers = Dictionary(graph.initializers.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        return graph.nodes.compactMap { node in
            guard !node.name.isEmpty, node.domain.isEmpty || node.domain == "ai.onnx", node.inputs.count >= 2,
                  let weight = initializers[node.inputs[1]], weight.dtype == .float32, weight.shape.count == 2 else { return nil }
            switch node.opType {
            case "MatMul":
                return Candidate(node: node.name, activation: node.inputs[0], weight: node.inputs[1], channels: weight.shape[0])
            case "Gemm":
                if case .int(let value)? = node.attribute("transA")?.value, value != 0 { return nil }
                let transposed: Bool
                if case .int(let value)? = node.attribute("transB")?.value { transposed = value != 0 } else { transposed = false }
                return Candidate(node: node.name, activation: node.inputs[0], weight: node.inputs[1],
                                 channels: transposed ? weight.shape[1] : weight.shape[0])
            default:
                return nil
            }
        }
    }

    /// Per-channel max |x| (last axis) of `tensors`, over the samples `keep` selects.
    /// - Parameters:
    ///   - session: a session of the model that produces the tensors.
    ///   - channels: the channel count expected per tensor (others are skipped).
    /// - Throws: ``DataError`` for invalid samples, ``RuntimeError`` from the run.
    public static func channelMaxima(_ data: CalibrationData, model: Model, session: Session, channels: [String: Int],
                                     keep: (Int) -> Bool = { _ in true }) throws -> [String: [Float]] {
        var validator = FeedValidator(model: model, allowNonfinite: true, recordStatistics: false)
        var maxima: [String: [Float]] = [:]
        try data.forEach { sample in
            guard keep(sample.index), let feeds = validator.check(sample) else { return true }
            _ = try session.run(feeds, outputs: nil) { name, tensor in
                guard let count = channels[name], tensor.dtype == .float32, tensor.container == nil, tensor.shape.last == count, count > 0 else { return }
                var row = maxima[name] ?? [Float](repeating: 0, count: count)
                let values = tensor.scalars(as: Float.self)
                for (index, value) in values.enumerated() where value.isFinite {
                    let channel = index % count
                    row[channel] = max(row[channel], abs(value))
                }
                maxima[name] = row
            }
            return true
        }
        if !validator.problems.isEmpty { throw DataError.invalid(problems: validator.problems) }
        return maxima
    }

    /// Smooths `candidate` in `model` with strength `alpha` (0–1).
    /// - Parameter activationMax: the activation's per-channel max |x|.
    /// - Returns: nil when the node or weight is missing or no channel can be scaled.
    public static func apply(_ candidate: Candidate, in model: Model, alpha: Double, activationMax: [Float]) -> Result? {
        let graph = model.graph
        guard activationMax.count == candidate.channels,
              let index = graph.nodes.firstIndex(where: { $0.name == candidate.node && $0.inputs.count >= 2 && $0.inputs[1] == candidate.weight }),
              let weight = graph.initializers.first(where: { $0.name == candidate.weight })?.tensor else { return nil }
        let node = graph.nodes[index]
        var transposed = false
        if node.opType == "Gemm", case .int(let value)? = node.attribute("transB")?.value { transposed = value != 0 }
        var values = weight.scalars(as: Float.self)
        let (rows, columns) = (weight.shape[0], weight.shape[1])
        // Row k of W (input channel k): W[k, :], or W[:, k] with transB.
        func weightMax(_ k: Int) -> Float {
            var m: Float = 0
            if transposed { for n in 0..<rows { m = max(m, abs(values[n * columns + k])) } } else { for n in 0..<columns { m = max(m, abs(values[k * columns + n])) } }
            return m
        }
        var scales = [Float](repeating: 1, count: candidate.channels)
        for k in 0..<candidate.channels {
            let (x, w) = (Double(activationMax[k]), Double(weightMax(k)))
            guard x > 0, w > 0, x.isFinite, w.isFinite else { continue }
            let s = Foundation.pow(x, alpha) / Foundation.pow(w, 1 - alpha)
            if s.isFinite, s > 1e-6, s < 1e6 { scales[k] = Float(s) }
        }
        guard scales.contains(where: { $0 != 1 }) else { return nil }
        for k in 0..<candidate.channels where scales[k] != 1 {
            if transposed { for n in 0..<rows { values[n * columns + k] *= scales[k] } } else { for n in 0..<columns { values[k * columns + n] *= scales[k] } }
        }
        var editor = GraphEditor(graph)
        let inverse = editor.uniqueName(candidate.node + "/smooth_scale")
        let smoothedWeight = editor.uniqueName(candidate.weight + "/smoothed")
        let smoothed = editor.uniqueName(candidate.activation + "/smoothed")
        editor.setInitializer(inverse, Tensor(shape: [candidate.channels], scalars: scales.map { 1 / $0 }))
        editor.setInitializer(smoothedWeight, Tensor(shape: weight.shape, scalars: values))
        var rewired = node
        rewired.inputs[0] = smoothed
        rewired.inputs[1] = smoothedWeight
        editor.replaceNode(at: index, with: rewired)
        editor.insert([Node(opType: "Mul", inputs: [candidate.activation, inverse], outputs: [smoothed], name: editor.uniqueName(candidate.node + "/smooth"))],
                      at: index)
        editor.removeUnusedInitializers()
        let amax = zip(activationMax, scales).map { Double($0) / Double($1) }.max() ?? 0
        var result = model
        result.graph = editor.graph
        return Result(model: result, smoothed: smoothed, range: TensorRange(name: smoothed, amax: amax, method: "minmax (smoothed)"))
    }
}
