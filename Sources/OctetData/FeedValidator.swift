import Foundation
import OctetGraph

/// Checks samples against a model's inputs, turns them into feeds (batch axis added, lossless
/// widening applied) and collects every problem with the input, file and sample it concerns.
public struct FeedValidator {
    /// A model input as declared.
    public struct InputSpec: Sendable {
        /// Input name.
        public var name: String
        /// Declared element type, when the model gives one Octet knows.
        public var dtype: DType?
        /// Declared shape, when the rank is known.
        public var shape: [Dim]?
        /// The declared type (sequences and optionals are checked by kind only).
        public var type: ValueType = .unknown
    }

    /// The model's runtime inputs.
    public let inputs: [InputSpec]
    /// Accept NaN and infinity in float inputs.
    public let allowNonfinite: Bool
    /// Statistics per input, in model order.
    public private(set) var statistics: [InputStatistics]
    /// Warnings (one per kind and input), e.g. widened types.
    public private(set) var warnings: [String] = []
    private var problemCounts: [String: Int] = [:]
    private var problemList: [(key: String, message: String)] = []
    private var unknownNames: Set<String> = []
    /// Samples checked so far.
    public private(set) var sampleCount = 0

    /// Up to this many messages per kind of problem and input are kept.
    static let examplesPerProblem = 3

    /// Whether value ranges are recorded in ``statistics`` (a pass over every value).
    public let recordStatistics: Bool

    /// - Parameters:
    ///   - model: the model whose runtime inputs the data must feed.
    ///   - allowNonfinite: accept NaN and ±inf in float inputs.
    ///   - recordStatistics: record value ranges per input (`data check`'s table).
    public init(model: Model, allowNonfinite: Bool = false, recordStatistics: Bool = true) {
        self.recordStatistics = recordStatistics
        inputs = model.graph.runtimeInputs.map { InputSpec(name: $0.name, dtype: $0.type.dtype, shape: $0.type.shape, type: $0.type) }
        self.allowNonfinite = allowNonfinite
        statistics = inputs.map {
            InputStatistics(name: $0.name, dtypes: [], modelDtype: $0.dtype?.name ?? "?", modelShape: $0.shape, shapeRange: [],
                            minimum: nil, maximum: nil, samples: 0, nonFinite: 0, matches: true)
        }
    }

    /// Every problem, grouped by kind and input in order of first appearance, with a count of
    /// repeats beyond the first few.
    public var problems: [String] {
        var keys: [String] = []
        for (key, _) in problemList where !keys.contains(key) { keys.append(key) }
        return keys.flatMap { key -> [String] in
            let messages = problemList.filter { $0.key == key }.map(\.message)
            let total = problemCounts[key] ?? messages.count
            return messages + (total > messages.count ? ["… and \(total - messages.count) more like the one above"] : [])
        }
    }

    private mutating func problem(_ key: String, _ message: String, input: String? = nil) {
        problemCounts[key, default: 0] += 1
        if (problemCounts[key] ?? 0) <= Self.examplesPerProblem { problemList.append((key, message)) }
        if let input, let index = statistics.firstIndex(where: { $0.name == input }) { statistics[index].matches = false }
    }

    private var warned: Set<String> = []

    /// Records a warning once per `key`.
    private mutating func warn(_ key: String, _ message: String) {
        if warned.insert(key).inserted { warnings.append(message) }
    }

    /// Types the data may have for an input of type `model`, widened without loss (float64 to
    /// float32 is accepted with a warning, as calibration data is often saved in double).
    static func widens(_ data: DType, to model: DType) -> Bool {
        switch (data, model) {
        case (.int8, .int64), (.int16, .int64), (.int32, .int64), (.uint8, .int64), (.uint16, .int64), (.uint32, .int64),
             (.int8, .int32), (.int16, .int32), (.uint8, .int32), (.uint16, .int32), (.int8, .int16), (.uint8, .int16),
             (.float16, .float32), (.bfloat16, .float32), (.float16, .float64), (.float32, .float64), (.float64, .float32),
             (.bool, .bool):
            return true
        default: return false
        }
    }

    /// Records problems for sources whose arrays disagree on the number of samples.
    public mutating func checkRowCounts(_ source: CalibrationSource) {
        guard let stacked = source as? StackedSource else { return }
        let counts = stacked.arrays.map { ($0.name, $0.array.rowCount, $0.array.source) }
        if Set(counts.map(\.1)).count > 1 {
            let list = counts.map { "'\($0.0)': \($0.1) (\($0.2))" }.joined(separator: ", ")
            problem("rows:\(source.paths.joined())", "inputs have different sample counts: \(list)")
        }
    }

    /// Checks one sample; returns its feeds when it fits the model.
    public mutating func check(_ sample: RawSample) -> [String: Tensor]? {
        sampleCount += 1
        var feeds: [String: Tensor] = [:]
        var fits = true
        let modelNames = Set(inputs.map(\.name))
        for name in sample.values.keys.sorted() where !modelNames.contains(name) {
            if unknownNames.insert(name).inserted {
                let file = sample.files[name] ?? "?"
                let suggestion = NameSuggestion.closest(to: name, among: inputs.map(\.name)).map { "did you mean '\($0)'? " } ?? ""
                problem("unknown:\(name)", "\(file): '\(name)' is not an input of the model (\(suggestion)its inputs are: \(inputs.map(\.name).joined(separator: ", ")))")
            }
            fits = false
        }
        for (position, spec) in inputs.enumerated() {
            guard var value = sample.values[spec.name] else {
                let files = Set(sample.files.isEmpty ? sample.origin : Array(sample.files.values)).sorted().joined(separator: ", ")
                problem("missing:\(spec.name)", "sample \(sample.index)\(files.isEmpty ? "" : " (\(files))"): input '\(spec.name)' is missing", input: spec.name)
                fits = false
                continue
            }
            let file = sample.files[spec.name] ?? "?"
            let place = "input '\(spec.name)' (\(file), sample \(sample.index))"
            switch spec.type {
            case .sequence, .optional:
                if let fed = Self.container(value, for: spec.type) {
                    feeds[spec.name] = fed
                } else {
                    problem("kind:\(spec.name)", "\(place): the model expects a \(spec.type.summary) value, got \(value.sequenceElements == nil ? "a tensor" : "a sequence")", input: spec.name)
                    fits = false
                }
                continue
            default:
                if value.container != nil {
                    problem("kind:\(spec.name)", "\(place): the model expects a tensor, got a sequence", input: spec.name)
                    fits = false
                    continue
                }
            }
            let stored = value.dtype
            if let expected = spec.dtype, stored != expected {
                if Self.widens(stored, to: expected), let widened = try? value.converted(to: expected) {
                    warn("widen:\(spec.name)", "input '\(spec.name)': \(stored) data is converted to the model's \(expected)\(stored == .float64 ? " (rounded to float32)" : "") (first seen in \(file))")
                    value = widened
                } else {
                    problem("dtype:\(spec.name)", "\(place): the data is \(stored) but the model expects \(expected)", input: spec.name)
                    fits = false
                }
            }
            if let shape = spec.shape {
                if value.rank == shape.count - 1 {
                    value = value.unsafeReshaped([1] + value.shape)
                } else if value.rank != shape.count {
                    problem("rank:\(spec.name)", "\(place): shape \(value.shape) has \(value.rank) dimensions but the model expects \(shape.count) (\(Self.text(shape)), or \(shape.count - 1) without the batch axis)", input: spec.name)
                    fits = false
                }
                if value.rank == shape.count {
                    for (axis, dim) in shape.enumerated() {
                        // A batch axis larger than 1 is checked on whole runs, after batching.
                        if axis == 0 && shape.count > 1 && dim.fixedSize != 1 { continue }
                        if let size = dim.fixedSize, value.shape[axis] != size {
                            problem("dim:\(spec.name):\(axis)", "\(place): shape \(value.shape) does not match the model's \(Self.text(shape)) at axis \(axis) (expected \(size), got \(value.shape[axis]))", input: spec.name)
                            fits = false
                        }
                    }
                }
            }
            let measured = recordStatistics && (stored.isFloatingPoint || stored.isInteger || stored == .bool)
            let counted = statistics[position].record(dtype: stored, shape: value.shape, values: measured ? value : nil)
            if stored.isFloatingPoint {
                let bad = measured ? counted : Self.nonFiniteCount(value)
                if bad > 0 && !allowNonfinite {
                    problem("nonfinite:\(spec.name)", "\(place): \(bad) NaN or infinite value\(bad == 1 ? "" : "s"); pass --allow-nonfinite if that is intended", input: spec.name)
                    fits = false
                }
            }
            feeds[spec.name] = value
        }
        return fits ? feeds : nil
    }

    /// `value` as a feed for an input of sequence or optional `type`, or `nil` when it cannot be
    /// one. Optional values are read from files as sequences of at most one element (their
    /// layout on disk is the same): none, or the element.
    static func container(_ value: Tensor, for type: ValueType) -> Tensor? {
        switch type {
        case .sequence: return value.sequenceElements == nil ? nil : value
        case .optional(let inner):
            guard let elements = value.sequenceElements else { return value }
            if case .sequence = inner, elements.first?.sequenceElements == nil { return elements.isEmpty ? Tensor.noValue(value.dtype) : value }
            if elements.isEmpty { return Tensor.noValue(value.dtype) }
            return elements.count == 1 ? elements[0] : nil
        default: return nil
        }
    }

    /// Records that the data held no samples at all.
    public mutating func noSamples(in data: CalibrationData) {
        problem("empty", "no samples in \(data.sources.flatMap(\.paths).joined(separator: ", "))")
        for index in statistics.indices { statistics[index].matches = false }
    }

    /// NaN and infinite values of a floating-point tensor.
    static func nonFiniteCount(_ tensor: Tensor) -> Int {
        guard let floats = try? (tensor.dtype == .float32 ? tensor : tensor.converted(to: .float32)) else { return 0 }
        return floats.withElements(as: Float.self) { buffer in buffer.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }
    }

    static func text(_ shape: [Dim]) -> String { "[" + shape.map(\.description).joined(separator: ", ") + "]" }
}
