import Foundation
import OctetGraph

/// Small models built with Octet's own IR for tests that need no Python.
public enum TestModels {
    /// `y = relu(x · W + b)` with `x: float32[batch, 4]`, weights as initializers, opset 13.
    /// - Parameter seed: varies the weights.
    public static func linearRelu(seed: Int = 0) -> Model {
        let weights = (0..<12).map { Float(($0 * 7 + seed * 3) % 11) / 10 - 0.5 }
        let bias: [Float] = [0.25, -0.5, 0.125]
        let graph = Graph(
            name: "linear_relu",
            nodes: [
                Node(opType: "MatMul", inputs: ["x", "W"], outputs: ["xw"], name: "matmul"),
                Node(opType: "Add", inputs: ["xw", "b"], outputs: ["pre"], name: "add"),
                Node(opType: "Relu", inputs: ["pre"], outputs: ["y"], name: "relu"),
            ],
            inputs: [.tensor("x", .float32, [.param("batch"), .value(4)])],
            outputs: [.tensor("y", .float32, [.param("batch"), .value(3)])],
            initializers: [
                GraphTensor(name: "W", tensor: Tensor(shape: [4, 3], scalars: weights)),
                GraphTensor(name: "b", tensor: Tensor(shape: [3], scalars: bias)),
            ])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
    }

    /// A small CNN with an `-inf` mask: `x: float32[batch, 2, 6, 6]` → Conv(4, 3×3, pad 1) →
    /// Relu → residual Add with a 1×1 Conv of x → GlobalAveragePool → Flatten → Gemm(4→3, transB)
    /// → `logits`; and `scores = Softmax(logits + Where(logits > 0, 0, -inf))`, so one tensor
    /// holds -inf values. Weights are initializers; opset 13.
    public static func maskedCNN() -> Model {
        func values(_ count: Int, _ seed: Int) -> [Float] { (0..<count).map { Float((($0 * 37 + seed * 11) % 23) - 11) / 23 } }
        let attribute = { (name: String, ints: [Int64]) in Attribute(name: name, value: .ints(ints)) }
        let graph = Graph(
            name: "masked_cnn",
            nodes: [
                Node(opType: "Conv", inputs: ["x", "conv.w", "conv.b"], outputs: ["conv"], name: "conv",
                     attributes: [attribute("pads", [1, 1, 1, 1]), attribute("kernel_shape", [3, 3])]),
                Node(opType: "Relu", inputs: ["conv"], outputs: ["relu"], name: "relu"),
                Node(opType: "Conv", inputs: ["x", "skip.w"], outputs: ["skip"], name: "skip"),
                Node(opType: "Add", inputs: ["relu", "skip"], outputs: ["sum"], name: "residual"),
                Node(opType: "GlobalAveragePool", inputs: ["sum"], outputs: ["pooled"], name: "pool"),
                Node(opType: "Flatten", inputs: ["pooled"], outputs: ["flat"], name: "flatten"),
                Node(opType: "Gemm", inputs: ["flat", "fc.w", "fc.b"], outputs: ["logits"], name: "fc",
                     attributes: [Attribute(name: "transB", value: .int(1))]),
                Node(opType: "Greater", inputs: ["logits", "zero"], outputs: ["keep"], name: "keep"),
                Node(opType: "Where", inputs: ["keep", "zero", "minus_inf"], outputs: ["mask"], name: "mask"),
                Node(opType: "Add", inputs: ["logits", "mask"], outputs: ["masked"], name: "apply_mask"),
                Node(opType: "Softmax", inputs: ["masked"], outputs: ["scores"], name: "softmax"),
            ],
            inputs: [.tensor("x", .float32, [.param("batch"), .value(2), .value(6), .value(6)])],
            outputs: [.tensor("scores", .float32, [.param("batch"), .value(3)])],
            initializers: [
                GraphTensor(name: "conv.w", tensor: Tensor(shape: [4, 2, 3, 3], scalars: values(72, 1))),
                GraphTensor(name: "conv.b", tensor: Tensor(shape: [4], scalars: values(4, 2))),
                GraphTensor(name: "skip.w", tensor: Tensor(shape: [4, 2, 1, 1], scalars: values(8, 3))),
                GraphTensor(name: "fc.w", tensor: Tensor(shape: [3, 4], scalars: values(12, 4))),
                GraphTensor(name: "fc.b", tensor: Tensor(shape: [3], scalars: [0.5, -0.25, 0.125])),
                GraphTensor(name: "zero", tensor: Tensor(shape: [], scalars: [Float(0)])),
                GraphTensor(name: "minus_inf", tensor: Tensor(shape: [], scalars: [-Float.infinity])),
            ])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
    }

    /// `y = Identity(x)` for `x: float32[n]`: observing it sees exactly the values fed.
    public static func identity() -> Model {
        let graph = Graph(
            name: "identity",
            nodes: [Node(opType: "Identity", inputs: ["x"], outputs: ["y"], name: "identity")],
            inputs: [.tensor("x", .float32, [.param("n")])],
            outputs: [.tensor("y", .float32, [.param("n")])])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
    }

    /// `y = If(flag, then: doubled · scale, else: doubled − scale)` with `doubled = x + x`,
    /// `x: float32[batch, 3]`, `flag: bool[]`; the branches read the outer `doubled` and `scale`.
    public static func ifModel() -> Model {
        let outer = ValueInfo.tensor("then_out", .float32, nil)
        let thenBranch = Graph(name: "then_branch", nodes: [Node(opType: "Mul", inputs: ["doubled", "scale"], outputs: ["then_out"], name: "then_mul")],
                               outputs: [outer])
        let elseBranch = Graph(name: "else_branch", nodes: [Node(opType: "Sub", inputs: ["doubled", "scale"], outputs: ["else_out"], name: "else_sub")],
                               outputs: [.tensor("else_out", .float32, nil)])
        let graph = Graph(
            name: "if_model",
            nodes: [
                Node(opType: "Add", inputs: ["x", "x"], outputs: ["doubled"], name: "double"),
                Node(opType: "If", inputs: ["flag"], outputs: ["y"], name: "branch",
                     attributes: [Attribute(name: "then_branch", value: .graph(thenBranch)), Attribute(name: "else_branch", value: .graph(elseBranch))]),
            ],
            inputs: [.tensor("x", .float32, [.param("batch"), .value(3)]), .tensor("flag", .bool, [])],
            outputs: [.tensor("y", .float32, [.param("batch"), .value(3)])],
            initializers: [GraphTensor(name: "scale", tensor: Tensor(shape: [3], scalars: [Float(1.5), -2, 0.5]))])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
    }

    /// Deterministic pseudo-random floats in [-scale, scale) (a 64-bit LCG).
    public static func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }
}
