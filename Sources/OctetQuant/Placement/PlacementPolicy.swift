import Foundation

/// Which operators get Q/DQ and on what conditions (SPEC §3). ``tensorRT`` is what NVIDIA's
/// tools place: Q/DQ on the activation and weight inputs of Conv, ConvTranspose, Gemm and
/// MatMul (weights per channel), on the identity branch of a residual Add, nowhere else.
public struct PlacementPolicy: Sendable {
    /// Operators whose inputs are quantized.
    public var operators: Set<String>
    /// Quantize the non-Conv input of an Add whose other input is a quantized Conv's output,
    /// so TensorRT fuses the Add into the Conv.
    public var residualAdds: Bool
    /// MatMuls with K or N below this are left in float (GEMV-shaped or tiny).
    public var smallestMatMulDimension: Int
    /// Node names (regular expressions, matched in full) never quantized.
    public var excludedNodes: [String]

    /// Creates a policy.
    public init(operators: Set<String> = ["Conv", "ConvTranspose", "Gemm", "MatMul"], residualAdds: Bool = true,
                smallestMatMulDimension: Int = 16, excludedNodes: [String] = []) {
        self.operators = operators
        self.residualAdds = residualAdds
        self.smallestMatMulDimension = smallestMatMulDimension
        self.excludedNodes = excludedNodes
    }

    /// NVIDIA's placement for TensorRT.
    public static let tensorRT = PlacementPolicy()
}
