import COctetKernels
import Foundation
import OctetGraph

/// The activation a fused Conv (or, Relu only, an Add) applies to its output (see ``Fusion``),
/// carried by the node's private attributes: Relu in the GEMM tile's stores (in the Add's own
/// pass), the others with the C element-wise kernel over each chunk of output the Conv has just
/// written (still in cache).
struct FusedActivation: Equatable {
    /// Attribute naming the activation (not an ONNX attribute).
    static let attribute = "_octet_fused_activation"
    /// Attributes with HardSigmoid's alpha and beta for `hardSigmoid` and `xHardSigmoid`.
    static let alphaAttribute = "_octet_fused_alpha"
    static let betaAttribute = "_octet_fused_beta"

    enum Kind: String {
        /// max(0, x).
        case relu = "Relu"
        /// x · clamp(x / 6 + 1/2, 0, 1).
        case hardSwish = "HardSwish"
        /// 1 / (1 + e^-x).
        case sigmoid = "Sigmoid"
        /// clamp(alpha · x + beta, 0, 1) (a squeeze-excite gate).
        case hardSigmoid = "HardSigmoid"
        /// Mul(x, Sigmoid(x)).
        case silu = "SiLU"
        /// Mul(x, HardSigmoid(x)) with the HardSigmoid's alpha and beta.
        case xHardSigmoid = "XHardSigmoid"
    }

    let kind: Kind
    var alpha: Float = 0
    var beta: Float = 0

    /// The activation a node carries, if any.
    init?(_ context: KernelContext) {
        guard let kind = Kind(rawValue: context.string(Self.attribute, "")) else { return nil }
        self.kind = kind
        alpha = context.float(Self.alphaAttribute, 0)
        beta = context.float(Self.betaAttribute, 0)
    }

    init(kind: Kind, alpha: Float = 0, beta: Float = 0) {
        self.kind = kind
        self.alpha = alpha
        self.beta = beta
    }

    /// The node attributes recording this activation.
    var attributes: [Attribute] {
        var result = [Attribute(name: Self.attribute, value: .string(Data(kind.rawValue.utf8)))]
        if kind == .xHardSigmoid || kind == .hardSigmoid {
            result.append(Attribute(name: Self.alphaAttribute, value: .float(alpha)))
            result.append(Attribute(name: Self.betaAttribute, value: .float(beta)))
        }
        return result
    }

    /// Applies the activation in place to `count` floats at `values` (the C kernel).
    func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        octet_unary_f32(unaryOperation, values, values, count, alpha, beta)
    }

    /// The `octet_unary_f32` operation computing this activation (with ``alpha`` and ``beta``).
    var unaryOperation: Int32 {
        switch kind {
        case .relu: Int32(OCTET_UNARY_RELU)
        case .hardSwish: Int32(OCTET_UNARY_HARD_SWISH)
        case .sigmoid: Int32(OCTET_UNARY_SIGMOID)
        case .silu: Int32(OCTET_UNARY_SILU)
        case .xHardSigmoid: Int32(OCTET_UNARY_X_HARD_SIGMOID)
        case .hardSigmoid: Int32(OCTET_UNARY_HARD_SIGMOID)
        }
    }

    /// Applies the activation to a whole float32 tensor, split over threads.
    func apply(to tensor: inout Tensor) {
        tensor.withMutableElements(as: Float.self) { values in
            let shared = UncheckedSendable(values)
            ThreadPool.parallelFor(values.count, minimumChunk: 16_384) { range in
                guard let base = shared.value.baseAddress else { return }
                apply(base + range.lowerBound, count: range.count)
            }
        }
    }
}

/// What a fused Conv does to each stretch of output it has just written (still in cache): adds
/// the fused Add's other input (`residual`, laid out as the output), then applies the activation
/// (Relu in the same pass as the sum). The Conv's tiles store plain sums when there is one.
struct ConvEpilogue: @unchecked Sendable {
    let activation: FusedActivation?
    let residual: UnsafePointer<Float>?
    /// The output's first element: `values - output` locates a stretch in the residual.
    let output: UnsafeMutablePointer<Float>

    /// `nil` when there is nothing to do.
    init?(activation: FusedActivation?, residual: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
        guard activation != nil || residual != nil else { return nil }
        self.activation = activation
        self.residual = residual
        self.output = output
    }

    /// Finishes `count` output floats at `values` in place.
    func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        guard let residual else {
            activation?.apply(values, count: count)
            return
        }
        let addend = residual + (values - output)
        if activation?.kind == .relu {
            octet_binary_f32(Int32(OCTET_BINARY_ADD_RELU), values, 1, addend, 1, values, count)
            return
        }
        octet_binary_f32(Int32(OCTET_BINARY_ADD), values, 1, addend, 1, values, count)
        activation?.apply(values, count: count)
    }
}

extension Tensor {
    /// Runs `body` with a float32 tensor's first element, or `nil` without a tensor.
    static func withOptionalElements<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
        guard let tensor else { return try body(nil) }
        return try tensor.withElements(as: Float.self) { try body($0.baseAddress) }
    }
}
