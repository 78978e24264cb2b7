import OctetGraph

/// Kernels by operator domain and type. A kernel may declare the opset versions it covers; the
/// registry picks the one for the model's imported version.
public struct OpRegistry: Sendable {
    struct Entry: Sendable {
        let sinceVersion: Int64
        let kernel: @Sendable (KernelContext) throws -> [Tensor]
    }

    private var entries: [String: [Entry]] = [:]

    /// An empty registry.
    public init() {}

    private static func key(_ domain: String, _ opType: String) -> String {
        "\(OpsetImport.canonical(domain))::\(opType)"
    }

    /// Registers `kernel` for `opType` in `domain` from opset `since` on.
    public mutating func register(_ opType: String, domain: String = "", since: Int64 = 1,
                                  _ kernel: @escaping @Sendable (KernelContext) throws -> [Tensor]) {
        entries[Self.key(domain, opType), default: []].append(Entry(sinceVersion: since, kernel: kernel))
        entries[Self.key(domain, opType)]?.sort { $0.sinceVersion > $1.sinceVersion }
    }

    /// The kernel for `opType` in `domain` at `opset`, or `nil`.
    public func kernel(_ opType: String, domain: String, opset: Int64) -> (@Sendable (KernelContext) throws -> [Tensor])? {
        entries[Self.key(domain, opType)]?.first { $0.sinceVersion <= opset }?.kernel
    }

    /// Every registered (domain, op type) pair, sorted.
    public var operators: [String] { entries.keys.sorted() }

    /// The registry with all of Octet's built-in kernels.
    public static let standard: OpRegistry = {
        var registry = OpRegistry()
        StandardKernels.registerAll(in: &registry)
        return registry
    }()
}
