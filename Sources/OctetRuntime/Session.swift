import COctetKernels
import Foundation
import OctetGraph

/// Receives every tensor a run produces, with its ONNX value name: graph inputs first, then
/// each node output as it is computed (subgraph values included). The tensor is freed after
/// its last consumer, so an observer that keeps statistics sees each value exactly once.
/// Initializers and `Constant` node values are weights, read from the graph at planning time,
/// and are not reported.
public typealias TensorObserver = (_ name: String, _ tensor: Tensor) -> Void

/// A model prepared to run on the CPU.
///
/// Planning happens once; each ``run(_:outputs:observer:)`` resolves shapes from its feeds, so
/// dynamic batch, sequence and image sizes work. Intermediate tensors are freed after their
/// last consumer.
public final class Session {
    /// The model (fused when asked). A weight that every kernel reading it keeps packed is
    /// released after the run that packed it (the ONNX Runtime CPU provider does the same): here
    /// and in the plans it keeps its type and shape, but its elements are gone
    /// (``OctetTensor/Tensor/elementsReleased``). Callers that need the weights keep their own
    /// copy of the model, which is not affected.
    public private(set) var model: Model
    private let registry: OpRegistry
    private var plans: [Set<String>: GraphPlan] = [:]
    /// The main graph's input names (all, and those without an initializer) and output names.
    private let names: (inputs: [String], runtimeInputs: [String], outputs: [String])
    /// ``PreparedValues/replacementCount`` when constants were last looked at for release.
    private var replacementsSeen = -1
    /// Largest total of live intermediate tensor bytes seen during the last run.
    public private(set) var peakBytes = 0
    private var liveBytes = 0
    /// Kernel time per operator type over the runs since profiling was switched on (main graph
    /// and subgraphs; a node holding a subgraph counts the subgraph's time too).
    public private(set) var profile: [String: OperatorTime]?

    /// Time spent in one operator type's kernels.
    public struct OperatorTime: Sendable {
        /// Kernel calls.
        public var calls = 0
        /// Total seconds.
        public var seconds = 0.0
    }

    /// Starts (or restarts) collecting ``profile``; `false` stops and clears it.
    public func setProfiling(_ enabled: Bool) { profile = enabled ? [:] : nil }

    /// How a session runs its model.
    public struct Options: Sendable {
        /// Fold BatchNormalization into Convs and compute a Relu after a Conv in the Conv
        /// (``Fusion``): faster, but the removed intermediate values are neither observed nor
        /// returnable, so only for runs that want the graph outputs.
        public var fuse: Bool

        /// - Parameter fuse: see ``fuse``.
        public init(fuse: Bool = false) { self.fuse = fuse }
    }

    /// Prepares `model`.
    /// - Parameters:
    ///   - model: a validated model.
    ///   - registry: the kernels to use.
    ///   - options: fusions (off by default: every value of the graph can be observed).
    /// - Throws: ``RuntimeError/unsupportedOperators`` listing every operator that has no kernel.
    public init(model: Model, registry: OpRegistry = .standard, options: Options = Options()) throws {
        self.model = options.fuse ? Fusion.apply(model) : model
        self.registry = registry
        let graph = self.model.graph
        names = (graph.inputs.map(\.name), graph.runtimeInputs.map(\.name), graph.outputs.map(\.name))
        let missing = Self.unsupportedOperators(in: self.model, registry: registry)
        if !missing.isEmpty { throw RuntimeError.unsupportedOperators(missing) }
        _ = try plan(keep: [])
    }

    /// Operators of `model` (subgraphs included) that `registry` has no kernel for.
    public static func unsupportedOperators(in model: Model, registry: OpRegistry = .standard) -> [UnsupportedOperator] {
        GraphPlan.unsupported(in: model.graph, model: model, registry: registry)
    }

    private func plan(keep: Set<String>) throws -> GraphPlan {
        if let existing = plans[keep] { return existing }
        let made = try GraphPlan(graph: model.graph, model: model, registry: registry, keep: keep, sharing: plans.values.first)
        plans[keep] = made
        return made
    }

    /// Names of every value a node of the main graph produces, in order (for `--outputs all`).
    public var allValueNames: [String] {
        (model.graph.topologicalOrder() ?? Array(model.graph.nodes.indices)).flatMap { model.graph.nodes[$0].outputs }
            .filter { !$0.isEmpty }
    }

    /// Runs the model.
    /// - Parameters:
    ///   - feeds: a tensor for every runtime input, by input name.
    ///   - outputs: the values to return (default: the graph outputs).
    ///   - observer: called with every produced tensor.
    /// - Returns: the requested values by name.
    /// - Throws: ``RuntimeError`` naming the input or node at fault.
    public func run(_ feeds: [String: Tensor], outputs: [String]? = nil, observer: TensorObserver? = nil) throws -> [String: Tensor] {
        // Not `model.graph` in a local: it would hold weights released during the run.
        let (inputNames, allInputs) = (names.runtimeInputs, names.inputs)
        for name in feeds.keys.sorted() where !allInputs.contains(name) {
            throw RuntimeError.unknownInput(name: name, expected: inputNames)
        }
        for name in inputNames where feeds[name] == nil { throw RuntimeError.missingInput(name: name) }
        let wanted = outputs ?? names.outputs
        let plan = try plan(keep: Set(wanted))
        let scope = Scope(parent: nil, constants: plan.constants)
        for name in allInputs {
            guard let tensor = feeds[name] else { continue }
            scope.values[name] = tensor
            observer?(name, tensor)
        }
        liveBytes = 0
        peakBytes = 0
        try execute(plan, scope: scope, observer: observer)
        var result: [String: Tensor] = [:]
        for name in wanted {
            guard let value = scope.lookup(name) else {
                throw RuntimeError.kernel(node: "(graph)", opType: "output", inputShapes: [], reason: "value '\(name)' was not produced")
            }
            guard !value.elementsReleased else {
                throw RuntimeError.kernel(node: "(graph)", opType: "output", inputShapes: [],
                                          reason: "'\(name)' is a weight this session keeps only in packed form; read it from the model file")
            }
            result[name] = value
        }
        return result
    }

    /// Releases the weights every reader of which keeps them packed (see ``model``), in every
    /// plan, the running scope and the model, so that the session holds only the packed copies.
    /// Called during the main graph's run, right after a step packed something: the original
    /// and the packed copy of a weight are held together only until then.
    private func releaseReplacedConstants(_ plan: GraphPlan, scope: Scope) {
        let released = plan.releaseReplacedConstants()
        guard !released.isEmpty else { return }
        for other in plans.values where other !== plan { other.adopt(released: released) }
        for (name, copy) in released where scope.constants[name] != nil { scope.constants[name] = copy }
        var graph = model.graph
        for index in graph.initializers.indices {
            if let copy = released[graph.initializers[index].name] { graph.initializers[index].tensor = copy }
        }
        for index in graph.nodes.indices where graph.nodes[index].opType == "Constant" {
            guard let output = graph.nodes[index].outputs.first, let copy = released[output] else { continue }
            for position in graph.nodes[index].attributes.indices {
                if case .tensor(var constant) = graph.nodes[index].attributes[position].value {
                    constant.tensor = copy
                    graph.nodes[index].attributes[position].value = .tensor(constant)
                }
            }
        }
        model.graph = graph
        // Freed weights sit between live blocks of the heap, where the allocator keeps their
        // pages; the packed copies made next are larger and would not reuse them.
        octet_return_free_memory()
    }

    /// Values visible to a graph: its own (inputs and computed values, which shadow a constant of
    /// the same name), its plan's constants (shared, not copied per run), then its enclosing
    /// graphs'.
    final class Scope {
        var values: [String: Tensor] = [:]
        var constants: [String: Tensor]
        let parent: Scope?
        init(parent: Scope?, constants: [String: Tensor]) {
            self.parent = parent
            self.constants = constants
        }
        func lookup(_ name: String) -> Tensor? { values[name] ?? constants[name] ?? parent?.lookup(name) }
    }

    private func execute(_ plan: GraphPlan, scope: Scope, observer: TensorObserver?) throws {
        // One closure for every step (control-flow kernels call it): a closure per step cost an
        // allocation per node.
        var current: GraphPlan.Step?
        let runSubgraph: (String, [Tensor]) throws -> [Tensor] = { [unowned self] attribute, values in
            guard let subplan = current?.subgraphs[attribute] else {
                throw KernelError("attribute '\(attribute)' is not a graph")
            }
            return try self.runSubgraph(subplan, inputs: values, parent: scope, observer: observer)
        }
        for step in plan.steps {
            current = step
            let node = plan.graph.nodes[step.nodeIndex]
            var inputs: [Tensor?] = []
            inputs.reserveCapacity(node.inputs.count)
            for name in node.inputs {
                if name.isEmpty { inputs.append(nil); continue }
                guard let value = scope.lookup(name) else {
                    throw RuntimeError.kernel(node: step.label, opType: node.opType, inputShapes: [],
                                              reason: "input '\(name)' has no value")
                }
                inputs.append(value)
            }
            let context = KernelContext(node: node, opset: step.opset, inputs: inputs, constantInputs: step.constantInputs,
                                        prepared: step.prepared, runSubgraph: runSubgraph)
            let produced: [Tensor]
            let start = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            do {
                produced = try step.kernel(context)
            } catch let error as KernelError {
                throw RuntimeError.kernel(node: step.label, opType: node.opType, inputShapes: inputs.map(Self.describe), reason: error.reason)
            } catch let error as TensorError {
                throw RuntimeError.kernel(node: step.label, opType: node.opType, inputShapes: inputs.map(Self.describe),
                                          reason: error.localizedDescription)
            }
            if scope.parent == nil {
                let replacements = PreparedValues.replacementCount.load(ordering: .relaxed)
                if replacements != replacementsSeen {
                    replacementsSeen = replacements
                    releaseReplacedConstants(plan, scope: scope)
                }
            }
            if profile != nil {
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let key = Self.profileKey(node, inputs: inputs)
                profile?[key, default: OperatorTime()].calls += 1
                profile?[key, default: OperatorTime()].seconds += seconds
            }
            for (position, name) in node.outputs.enumerated() where !name.isEmpty {
                guard position < produced.count else {
                    throw RuntimeError.kernel(node: step.label, opType: node.opType, inputShapes: inputs.map(Self.describe),
                                              reason: "output #\(position) '\(name)' is not computed by Octet's kernel")
                }
                let tensor = produced[position]
                observer?(name, tensor)
                if plan.unread.contains(name) { continue }
                scope.values[name] = tensor
                liveBytes += tensor.byteCount
            }
            peakBytes = max(peakBytes, liveBytes)
            for name in step.releases {
                if let released = scope.values.removeValue(forKey: name) { liveBytes -= released.byteCount }
            }
        }
    }

    private func runSubgraph(_ plan: GraphPlan, inputs: [Tensor], parent: Scope, observer: TensorObserver?) throws -> [Tensor] {
        let scope = Scope(parent: parent, constants: plan.constants)
        guard inputs.count == plan.graph.inputs.count else {
            throw KernelError("subgraph '\(plan.graph.name)' takes \(plan.graph.inputs.count) inputs, was given \(inputs.count)")
        }
        for (info, tensor) in zip(plan.graph.inputs, inputs) where !info.name.isEmpty {
            scope.values[info.name] = tensor
            // A body's inputs (a Loop's carried state, a Scan's slices) are values of the run too.
            observer?(info.name, tensor)
        }
        try execute(plan, scope: scope, observer: observer)
        return try plan.graph.outputs.map { output in
            guard let value = scope.lookup(output.name) else { throw KernelError("subgraph output '\(output.name)' was not produced") }
            return value
        }
    }

    /// The profile entry of a node: its operator type, for Conv also its kernel size and
    /// whether it is depthwise (the kinds run different kernels).
    static func profileKey(_ node: Node, inputs: [Tensor?]) -> String {
        guard node.opType == "Conv", inputs.count > 1, let weight = inputs[1], weight.rank >= 3 else { return node.opType }
        let kernel = weight.shape.dropFirst(2).map(String.init).joined(separator: "×")
        var group = 1
        if case .int(let value)? = node.attribute("group")?.value { group = Int(value) }
        return group > 1 && weight.shape[1] == 1 ? "Conv \(kernel) depthwise" : "Conv \(kernel)"
    }

    static func describe(_ tensor: Tensor?) -> String {
        guard let tensor else { return "(none)" }
        return "\(tensor.dtype)\(tensor.shape)"
    }
}
