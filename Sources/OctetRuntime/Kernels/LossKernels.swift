import Foundation
import OctetGraph

/// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (inference of the loss value).
enum LossKernels {
    /// How per-element losses are combined.
    enum Reduction: String { case none, sum, mean }

    /// The negative log-likelihood of `target` under `input`.
    /// - Parameters:
    ///   - input: log-probabilities `[N, C, d1, …, dk]` (double precision, row-major).
    ///   - shape: `input`'s shape.
    ///   - target: class indices `[N, d1, …, dk]`.
    ///   - weight: per-class weights `[C]`, or `nil` for 1.
    ///   - ignoreIndex: a target value that contributes nothing (also to the mean's weight).
    /// - Returns: the loss values (`[N, d1, …, dk]` for `.none`, one value otherwise).
    static func negativeLogLikelihood(_ input: [Double], shape: [Int], target: [Int], weight: [Double]?,
                                      ignoreIndex: Int?, reduction: Reduction) throws -> [Double] {
        guard shape.count >= 2 else { throw KernelError("expects input of rank ≥ 2 (N, C, …), got shape \(shape)") }
        let (n, classes) = (shape[0], shape[1])
        let inner = shape[2...].reduce(1, *)
        guard target.count == n * inner else {
            throw KernelError("target has \(target.count) elements; input \(shape) needs \(n * inner)")
        }
        if let weight, weight.count != classes {
            throw KernelError("weight has \(weight.count) elements; input has \(classes) classes")
        }
        var losses = [Double](repeating: 0, count: target.count)
        var totalWeight = 0.0
        for sample in 0..<n {
            for position in 0..<inner {
                let index = sample * inner + position
                let label = target[index]
                if label == ignoreIndex { continue }
                guard label >= 0, label < classes else {
                    throw KernelError("target value \(label) is outside 0..<\(classes) (and is not ignore_index)")
                }
                let w = weight?[label] ?? 1
                losses[index] = -input[(sample * classes + label) * inner + position] * w
                totalWeight += w
            }
        }
        switch reduction {
        case .none: return losses
        case .sum: return [losses.reduce(0, +)]
        case .mean: return [losses.reduce(0, +) / totalWeight]
        }
    }

    /// The reduction, ignore index and weights of a loss node.
    static func options(_ context: KernelContext) throws -> (Reduction, Int?, [Double]?) {
        let name = context.string("reduction", "mean")
        guard let reduction = Reduction(rawValue: name) else {
            throw KernelError("attribute 'reduction' must be none, sum or mean, got \"\(name)\"")
        }
        let ignore = context.has("ignore_index") ? context.int("ignore_index", 0) : nil
        return (reduction, ignore, try context.optionalInput(2)?.doubles())
    }

    static func nllLoss(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        let target = try context.input(1)
        let (reduction, ignore, weight) = try options(context)
        let losses = try negativeLogLikelihood(try input.doubles(), shape: input.shape, target: try target.integers(),
                                               weight: weight, ignoreIndex: ignore, reduction: reduction)
        return try Tensor(shape: reduction == .none ? target.shape : [], scalars: losses).converted(to: input.dtype)
    }

    /// The loss of log-softmax(scores, axis 1) against the labels; second output the log-probabilities.
    static func softmaxCrossEntropy(_ context: KernelContext) throws -> [Tensor] {
        let scores = try context.input(0)
        let labels = try context.input(1)
        guard scores.rank >= 2 else { throw KernelError("expects scores of rank ≥ 2 (N, C, …), got shape \(scores.shape)") }
        let (reduction, ignore, weight) = try options(context)
        let logProbabilities = try FeatureNormalizationKernels.mapRows(try scores.converted(to: .float64), axes: [1]) { row in
            let peak = row.max() ?? 0
            let shift = peak + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - peak) })
            for i in row.indices { row[i] -= shift }
        }
        let losses = try negativeLogLikelihood(try logProbabilities.doubles(), shape: scores.shape, target: try labels.integers(),
                                               weight: weight, ignoreIndex: ignore, reduction: reduction)
        let loss = try Tensor(shape: reduction == .none ? labels.shape : [], scalars: losses).converted(to: scores.dtype)
        return [loss, try logProbabilities.converted(to: scores.dtype)]
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("NegativeLogLikelihoodLoss") { [try nllLoss($0)] }
        registry.register("SoftmaxCrossEntropyLoss") { try softmaxCrossEntropy($0) }
    }
}
