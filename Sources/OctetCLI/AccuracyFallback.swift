import Foundation
import OctetGraph
import OctetQuant
import OctetRuntime

/// `convert --int8 --target-cosine C` / `--target-metric top1 --max-drop D`: while some output's
/// mean cosine on the evaluation samples is below C, or the task accuracy is more than D points
/// below FP32's, one step at a time, cheapest fix first:
///
/// 1. **Another range method** for the activation inputs of the most damaged of the three
///    worst quantized nodes not tried so far (entropy, percentile, MSE, minmax, all from the same
///    histogram: no recalibration), kept only when it closes at least ``rangeGain`` of the gap
///    to a cosine of 1.
/// 2. **SmoothQuant** (`--smooth-alpha`): the most damaged MatMul/Gemm with a constant weight not
///    tried yet gets its activation's channel outliers migrated into the weight
///    (``SmoothQuant``), kept when it measurably helps.
/// 3. **Back to FP32**: the three worst quantized (named) nodes are each left out in turn
///    (leave-one-out on the evaluation samples) and the one that helps most is kept.
///
/// After each step the exclusions are printed as a reusable `--exclude-nodes` list and the best
/// model so far is written to the output.
struct AccuracyFallback {
    /// What a step changed.
    enum Action: String, Codable, Sendable {
        /// One activation's range method.
        case range
        /// One node returned to FP32.
        case fp32
        /// One MatMul/Gemm smoothed (`--smooth-alpha`).
        case smooth
    }

    /// One step the search kept.
    struct Step: Codable, Sendable, Equatable {
        /// The damaged node the step addressed (returned to FP32, or whose input got a new range).
        var node: String
        var action: Action
        /// For `range`: the tensor and its new method (`percentile 99.99`, …) and amax.
        @EncodedAsNull var tensor: String?
        @EncodedAsNull var method: String?
        @EncodedAsNull var amax: Double?
        /// The smallest mean output cosine after the step.
        var cosine: Double
        /// Every node returned so far, as `--exclude-nodes` patterns.
        var excludeNodes: [String]
        /// The share of candidate multiply-accumulates still in INT8 after the step.
        @EncodedAsNull var int8MACFraction: Double?
        /// INT8 task accuracy (0–1) after the step, with `--eval-labels`.
        @EncodedAsNull var taskAccuracy: Double? = nil
        /// INT8 score of the `--target-metric` script after the step.
        @EncodedAsNull var metric: Double? = nil

        /// "x back to FP32" or "x: input t to percentile 99.99".
        var summary: String {
            switch action {
            case .fp32: "\(node) back to FP32"
            case .range: "\(node): input \(tensor ?? "?") to \(method ?? "?")"
            case .smooth: "\(node): smoothed (\(method ?? "?"))"
            }
        }
    }

    /// The share of the gap `1 − cosine` a range change must close to be kept.
    static let rangeGain = 0.05

    /// What the search aims at.
    struct Goal {
        /// Every output's mean cosine at least this (`--target-cosine`).
        var cosine: Double?
        /// Task accuracy at most this many points below FP32's (`--target-metric top1 --max-drop`).
        var maxDrop: Double?

        var isSet: Bool { cosine != nil || maxDrop != nil }

        /// The option named in messages.
        var option: String { maxDrop != nil ? "--target-metric" : "--target-cosine" }

        /// "cosine ≥ 0.99, drop ≤ 1 point".
        var text: String {
            [cosine.map { String(format: "cosine ≥ %g", $0) }, maxDrop.map { String(format: "task metric drop ≤ %g", $0) }]
                .compactMap { $0 }.joined(separator: ", ")
        }

        /// The metric's drop from FP32: the script's score, else task accuracy in points.
        static func drop(_ evaluation: Int8Conversion.Report.Evaluation) -> Double {
            evaluation.metric?.drop ?? evaluation.taskAccuracy?.dropPoints ?? 0
        }

        /// The INT8 model's metric (higher is better), if there is one.
        static func score(_ evaluation: Int8Conversion.Report.Evaluation) -> Double? {
            evaluation.metric?.int8 ?? evaluation.taskAccuracy?.int8
        }

        func met(_ evaluation: Int8Conversion.Report.Evaluation) -> Bool {
            (cosine.map { AccuracyFallback.worst(evaluation) >= $0 } ?? true) && (maxDrop.map { Self.drop(evaluation) <= $0 } ?? true)
        }

        /// Whether `a` is closer to the goal than `b`: the metric first when it is aimed at, then the worst cosine.
        func better(_ a: Int8Conversion.Report.Evaluation, than b: Int8Conversion.Report.Evaluation) -> Bool {
            if maxDrop != nil, let x = Self.score(a), let y = Self.score(b), x != y { return x > y }
            return AccuracyFallback.worst(a) > AccuracyFallback.worst(b)
        }

        /// Whether a range change from `before` to `after` helps measurably: higher task accuracy
        /// when aimed at, or (accuracy no lower) a cosine closing ``rangeGain`` of the gap to 1.
        func measurablyBetter(_ after: Int8Conversion.Report.Evaluation, than before: Int8Conversion.Report.Evaluation) -> Bool {
            if maxDrop != nil, let x = Self.score(after), let y = Self.score(before) {
                if x > y { return true }
                if x < y { return false }
            }
            let (new, old) = (AccuracyFallback.worst(after), AccuracyFallback.worst(before))
            return new >= old + AccuracyFallback.rangeGain * (1 - old)
        }
    }

    let conversion: Int8Conversion
    let source: Model
    let prepared: Model
    let policy: PlacementPolicy
    let labels: [Int]?
    let inputFiles: [URL]
    /// Histograms for other range methods (nil when the ranges came from a TensorRT cache).
    let statistics: CalibrationStatistics?
    /// SmoothQuant strength for MatMul/Gemm inputs (`--smooth-alpha`), nil when off.
    var smoothAlpha: Double? = nil

    struct Outcome {
        var model: Model
        var evaluation: Int8Conversion.Report.Evaluation
        var steps: [Step]
        /// The ranges of the kept model (changed ones included).
        var ranges: [String: TensorRange]
    }

    static func worst(_ evaluation: Int8Conversion.Report.Evaluation) -> Double {
        evaluation.outputs.map(\.meanCosine).min() ?? 1
    }

    func run(_ goal: Goal, start: (Model, Int8Conversion.Report.Evaluation), ranges initial: [String: TensorRange]) throws -> Outcome {
        let worst = Self.worst
        var (current, evaluation) = start
        var ranges = initial
        var best = Outcome(model: current, evaluation: evaluation, steps: [], ranges: ranges)
        var steps: [Step] = []
        var excluded = policy.excludedNodes
        var returned = Set<String>()
        var rangeTried = Set<String>()
        var smoothTried = Set<String>()
        var graph = prepared
        var smoothing = SmoothingState()
        let named = Set(prepared.graph.nodes.map(\.name).filter { !$0.isEmpty })
        let histograms = Dictionary((statistics?.tensors ?? []).map { ($0.name, $0.statistics) }, uniquingKeysWith: { first, _ in first })
        while !goal.met(evaluation) {
            // The cheap pass ranks (each node quantized alone); the accumulated ranking breaks ties and covers nodes it lacks.
            let ranking = evaluation.isolatedNodes.map(\.node) + evaluation.nodes.map(\.node)
            var seen = Set<String>()
            let candidates = ranking.filter { named.contains($0) && !returned.contains($0) && seen.insert($0).inserted }.prefix(3)
            guard !candidates.isEmpty else {
                Console.warning("\(goal.option) (\(goal.text)) was not reached: no quantized node is left to return to FP32")
                break
            }
            var step: Step?
            // Cheap fixes first, each tried once per node: the most damaged candidate not tried yet.
            if !histograms.isEmpty, let node = candidates.first(where: { !rangeTried.contains($0) }) {
                rangeTried.insert(node)
                if let change = try betterRange(for: node, goal: goal, base: graph, ranges: ranges, histograms: histograms, excluded: excluded, from: evaluation) {
                    ranges[change.range.name] = change.range
                    (current, evaluation) = (change.model, change.evaluation)
                    step = Step(node: node, action: .range, tensor: change.range.name, method: change.range.method, amax: change.range.amax,
                                cosine: worst(evaluation), excludeNodes: excluded, int8MACFraction: evaluation.macs?.int8Fraction)
                }
            }
            let smoothable = Set(SmoothQuant.candidates(in: graph.graph).map(\.node))
            if step == nil, let alpha = smoothAlpha, let node = candidates.first(where: { smoothable.contains($0) && !smoothTried.contains($0) }) {
                smoothTried.insert(node)
                if let change = try smooth(node, alpha: alpha, goal: goal, base: graph, state: &smoothing, ranges: ranges, excluded: excluded, from: evaluation) {
                    graph = change.base
                    ranges[change.range.name] = change.range
                    (current, evaluation) = (change.model, change.evaluation)
                    step = Step(node: node, action: .smooth, tensor: change.range.name, method: String(format: "alpha %g", alpha), amax: change.range.amax,
                                cosine: worst(evaluation), excludeNodes: excluded, int8MACFraction: evaluation.macs?.int8Fraction)
                }
            }
            if step == nil, let trial = try leaveOneOut(candidates, goal: goal, base: graph, ranges: ranges, excluded: excluded) {
                excluded.append(NSRegularExpression.escapedPattern(for: trial.node))
                returned.insert(trial.node)
                (current, evaluation) = (trial.model, trial.evaluation)
                step = Step(node: trial.node, action: .fp32, cosine: worst(evaluation), excludeNodes: excluded,
                            int8MACFraction: evaluation.macs?.int8Fraction)
            }
            guard var step else { break }
            step.taskAccuracy = evaluation.taskAccuracy?.int8
            step.metric = evaluation.metric?.int8
            steps.append(step)
            if goal.better(evaluation, than: best.evaluation) {
                best = Outcome(model: current, evaluation: evaluation, steps: steps, ranges: ranges)
                _ = try conversion.command.save(current, inputFiles: inputFiles, keepExternal: true)
            }
            let share = evaluation.macs.map { String(format: ", %.1f %% of the candidate MACs in INT8", $0.int8Fraction * 100) } ?? ""
            let patterns = excluded.isEmpty ? "" : "; so far: --exclude-nodes " + excluded.map { "'\($0)'" }.joined(separator: " ")
            let task = evaluation.metric.map { String(format: ", metric %.6g (FP32 %.6g)", $0.int8, $0.fp32) }
                ?? evaluation.taskAccuracy.map { String(format: ", task accuracy %.2f %% (FP32 %.2f %%)", $0.int8 * 100, $0.fp32 * 100) } ?? ""
            Console.note(String(format: "%@ step %d: %@, smallest output cosine %.5f%@ (goal: %@%@)%@",
                                goal.option, steps.count, step.summary, worst(evaluation), task, goal.text, share, patterns))
        }
        return best
    }

    /// The model with `node`'s activation inputs at another range method, when one closes at
    /// least ``rangeGain`` of the gap; judged by the outputs, the kept one also ranked per node.
    func betterRange(for node: String, goal: Goal, base prepared: Model, ranges: [String: TensorRange], histograms: [String: TensorStatistics], excluded: [String],
                     from evaluation: Int8Conversion.Report.Evaluation) throws
        -> (range: TensorRange, model: Model, evaluation: Int8Conversion.Report.Evaluation)? {
        let constants = Set(prepared.graph.initializers.map(\.name))
        guard let graphNode = prepared.graph.nodes.first(where: { $0.name == node }) else { return nil }
        let inputs = graphNode.inputs.filter { !constants.contains($0) && ranges[$0] != nil && histograms[$0] != nil }
        var best: (range: TensorRange, model: Model, evaluation: Int8Conversion.Report.Evaluation)?
        let methods: [RangeAlgorithm] = [.entropy, .percentile(conversion.command.method.percentile), .mse, .minmax]
        var attempt = policy
        attempt.excludedNodes = excluded
        for input in Set(inputs).sorted() {
            guard let current = ranges[input], let statistics = histograms[input] else { continue }
            for method in methods where method.description != current.method {
                let range = try TensorRange(name: input, method: method, statistics: statistics)
                guard abs(range.amax - current.amax) > 1e-9 * max(1, current.amax) else { continue }
                var trialRanges = ranges
                trialRanges[input] = range
                let model = try conversion.rewrite(prepared, placement: Placement.place(in: prepared.graph, ranges: trialRanges, policy: attempt),
                                                   ranges: trialRanges)
                guard let result = try conversion.evaluate(reference: source, quantized: model, labels: labels, perNode: false) else { continue }
                if goal.better(result, than: best?.evaluation ?? evaluation) { best = (range, model, result) }
            }
        }
        guard var best, goal.measurablyBetter(best.evaluation, than: evaluation) else { return nil }
        best.evaluation = try conversion.evaluate(reference: source, quantized: best.model, labels: labels, prepared: prepared) ?? best.evaluation
        return best
    }

    /// The candidate whose return to FP32 helps the outputs most (each left out in turn).
    func leaveOneOut(_ candidates: ArraySlice<String>, goal: Goal, base prepared: Model, ranges: [String: TensorRange], excluded: [String]) throws
        -> (node: String, model: Model, evaluation: Int8Conversion.Report.Evaluation)? {
        var trial: (node: String, model: Model, evaluation: Int8Conversion.Report.Evaluation)?
        for node in candidates {
            var attempt = policy
            attempt.excludedNodes = excluded + [NSRegularExpression.escapedPattern(for: node)]
            let model = try conversion.rewrite(prepared, placement: Placement.place(in: prepared.graph, ranges: ranges, policy: attempt), ranges: ranges)
            // Candidates are judged by their outputs; only the one kept is ranked per node.
            guard let result = try conversion.evaluate(reference: source, quantized: model, labels: labels, perNode: false) else { continue }
            if trial.map({ goal.better(result, than: $0.evaluation) }) ?? true { trial = (node, model, result) }
        }
        guard var trial else { return nil }
        trial.evaluation = try conversion.evaluate(reference: source, quantized: trial.model, labels: labels, prepared: prepared) ?? trial.evaluation
        return trial
    }

    /// Per-channel activation maxima for smoothing, gathered once (one FP32 pass over the
    /// calibration samples) when first needed.
    struct SmoothingState {
        var maxima: [String: [Float]]?
        var unavailable = false
    }

    /// The model with `node` smoothed (SmoothQuant, strength `alpha`), when that measurably helps.
    func smooth(_ node: String, alpha: Double, goal: Goal, base: Model, state: inout SmoothingState, ranges: [String: TensorRange],
                excluded: [String], from evaluation: Int8Conversion.Report.Evaluation) throws
        -> (base: Model, range: TensorRange, model: Model, evaluation: Int8Conversion.Report.Evaluation)? {
        guard let candidate = SmoothQuant.candidates(in: base.graph).first(where: { $0.node == node }), !state.unavailable else { return nil }
        if state.maxima == nil {
            let command = conversion.command
            guard !command.data.isEmpty else {
                state.unavailable = true
                Console.note("--smooth-alpha needs the calibration data (per-channel maxima of the MatMul inputs); nothing is smoothed")
                return nil
            }
            let channels = Dictionary(SmoothQuant.candidates(in: prepared.graph).map { ($0.activation, $0.channels) }, uniquingKeysWith: { first, _ in first })
            let heldOut = conversion.heldOut
            let session = try Session(model: prepared, options: .init(fuse: false))
            state.maxima = try SmoothQuant.channelMaxima(try command.data.open(), model: source, session: session, channels: channels) { index in
                !(heldOut?.contains(index) ?? false)
            }
        }
        guard let maxima = state.maxima?[candidate.activation],
              let smoothed = SmoothQuant.apply(candidate, in: base, alpha: alpha, activationMax: maxima) else { return nil }
        var trialRanges = ranges
        trialRanges[smoothed.smoothed] = smoothed.range
        var attempt = policy
        attempt.excludedNodes = excluded
        let model = try conversion.rewrite(smoothed.model, placement: Placement.place(in: smoothed.model.graph, ranges: trialRanges, policy: attempt),
                                           ranges: trialRanges)
        guard var result = try conversion.evaluate(reference: source, quantized: model, labels: labels, perNode: false),
              goal.measurablyBetter(result, than: evaluation) else { return nil }
        result = try conversion.evaluate(reference: source, quantized: model, labels: labels, prepared: smoothed.model) ?? result
        return (smoothed.model, smoothed.range, model, result)
    }
}
