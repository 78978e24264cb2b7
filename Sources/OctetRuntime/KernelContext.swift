import Foundation
import Synchronization
import OctetGraph

/// What a kernel sees: its node's inputs, attributes and opset version, and a way to run
/// subgraphs (for If).
public struct KernelContext {
    /// The node being run.
    public let node: Node
    /// The opset version imported for the node's domain.
    public let opset: Int64
    /// Input values in order; `nil` for omitted optional inputs.
    public let inputs: [Tensor?]
    /// Which inputs are constants of the graph (initializers, `Constant` nodes): the same
    /// tensor on every run, so work derived from them can be kept in ``prepared``.
    var constantInputs: [Bool] = []
    /// Values a kernel derives once from constant inputs (packed weights), kept by the plan
    /// for the session's lifetime.
    var prepared: PreparedValues?
    /// Runs the subgraph held in the named attribute, its inputs bound by position, with the
    /// enclosing values in scope.
    let runSubgraph: (String, [Tensor]) throws -> [Tensor]

    /// The required input at `index`.
    /// - Throws: ``KernelError`` when it is missing.
    public func input(_ index: Int) throws -> Tensor {
        guard index < inputs.count, let value = inputs[index] else {
            throw KernelError("required input #\(index) is missing")
        }
        return value
    }

    /// Whether input `index` is a graph constant (see ``prepared``).
    func isConstant(_ index: Int) -> Bool { index < constantInputs.count && constantInputs[index] }

    /// The value stored under `key` for this node, made by `make` on first use. Only for values
    /// derived from constant inputs (``isConstant(_:)``) and attributes, or caches keyed by what
    /// they depend on (``GeometryCache``); without a plan it is made every time.
    func prepared<T: AnyObject>(_ key: String, _ make: () throws -> T) rethrows -> T {
        guard let prepared else { return try make() }
        return try prepared.value(key, make)
    }

    /// Like ``prepared(_:_:)`` for a value that stands in for constant input `index` on every
    /// later run: the kernel promises to read only that input's type and shape from then on, so
    /// the session may release its elements once every reader of the constant has said so.
    func prepared<T: AnyObject>(_ key: String, replacing index: Int, _ make: () throws -> T) rethrows -> T {
        guard let prepared else { return try make() }
        return try prepared.value(key, replacing: isConstant(index) ? index : nil, make)
    }

    /// The optional input at `index`, or `nil`.
    public func optionalInput(_ index: Int) -> Tensor? { index < inputs.count ? inputs[index] : nil }

    /// Integer attribute `name`, or `fallback`.
    public func int(_ name: String, _ fallback: Int) -> Int {
        if case .int(let value)? = node.attribute(name)?.value { return Int(value) }
        return fallback
    }

    /// Whether integer attribute `name` is present.
    public func has(_ name: String) -> Bool { node.attribute(name) != nil }

    /// Integer-list attribute `name`, or `nil`.
    public func ints(_ name: String) -> [Int]? {
        if case .ints(let values)? = node.attribute(name)?.value { return values.map { Int($0) } }
        return nil
    }

    /// Float attribute `name`, or `fallback`.
    public func float(_ name: String, _ fallback: Float) -> Float {
        switch node.attribute(name)?.value {
        case .float(let value)?: return value
        case .int(let value)?: return Float(value)
        default: return fallback
        }
    }

    /// Float-list attribute `name`, or `nil`.
    public func floats(_ name: String) -> [Float]? {
        if case .floats(let values)? = node.attribute(name)?.value { return values }
        return nil
    }

    /// String attribute `name` (UTF-8), or `fallback`.
    public func string(_ name: String, _ fallback: String) -> String {
        if case .string(let bytes)? = node.attribute(name)?.value { return String(decoding: bytes, as: UTF8.self) }
        return fallback
    }

    /// String-list attribute `name`, or `nil`.
    public func strings(_ name: String) -> [String]? {
        if case .strings(let values)? = node.attribute(name)?.value { return values.map { String(decoding: $0, as: UTF8.self) } }
        return nil
    }

    /// Tensor attribute `name`, or `nil`.
    public func tensor(_ name: String) -> Tensor? {
        if case .tensor(let value)? = node.attribute(name)?.value { return value.tensor }
        return nil
    }

    /// Runs the subgraph in attribute `name` (e.g. `then_branch`, `body`) and returns its outputs.
    /// - Parameters:
    ///   - name: the attribute holding the graph.
    ///   - inputs: values for the subgraph's declared inputs, in order.
    /// - Throws: ``KernelError`` when the attribute is not a graph or the inputs do not match.
    public func runSubgraph(attribute name: String, inputs: [Tensor] = []) throws -> [Tensor] { try runSubgraph(name, inputs) }
}

/// A kernel: computes a node's outputs from its context.
public typealias Kernel = (KernelContext) throws -> [Tensor]

/// Values kernels derive once per session from a node's constant inputs, by key; safe to use
/// from the threads of one run.
final class PreparedValues: @unchecked Sendable {
    private let lock = NSLock()
    /// A node holds a few values: a list compared by key beats hashing the key on every run.
    private var values: [(key: String, value: AnyObject)] = []
    /// Constant inputs (by position) that a prepared value stands in for (see
    /// ``KernelContext/prepared(_:replacing:_:)``).
    private var replacedInputs: [Int] = []
    /// Counts replacements recorded by any node of any session, so a session looks for
    /// constants to release only after a run that recorded one.
    static let replacementCount = Atomic<Int>(0)

    /// The value under `key`, made by `make` (under the lock) the first time.
    /// - Parameter replacing: the constant input the value stands in for, if any.
    func value<T: AnyObject>(_ key: String, replacing: Int? = nil, _ make: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        for entry in values where entry.key == key {
            if let value = entry.value as? T { return value }
        }
        let value = try make()
        values.removeAll { $0.key == key }
        values.append((key, value))
        if let replacing, !replacedInputs.contains(replacing) {
            replacedInputs.append(replacing)
            Self.replacementCount.add(1, ordering: .relaxed)
        }
        return value
    }

    /// The input positions whose elements the kernel no longer reads.
    var replaced: [Int] {
        lock.lock()
        defer { lock.unlock() }
        return replacedInputs
    }
}

/// A constant input converted once per session: a Conv's bias as float32 values.
final class PreparedFloats: @unchecked Sendable {
    /// The values, zero-padded to a multiple of 16.
    let values: [Float]

    init(_ values: [Float]) { self.values = values }
}
