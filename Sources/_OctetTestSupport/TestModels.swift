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
}
