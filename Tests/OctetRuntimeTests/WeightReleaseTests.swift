import Foundation
import Testing
import _OctetTestSupport
import OctetGraph
@testable import OctetRuntime

/// A session keeps one copy of a weight: once every kernel reading it has packed it, the
/// original's elements are released (the packed copy answers every later run).
struct WeightReleaseTests {
    static let (k, hidden, n) = (128, 160, 136)
    static let w1 = TestModels.randomFloats(k * hidden, seed: 1, scale: 0.2)
    static let w2 = TestModels.randomFloats(hidden * n, seed: 2, scale: 0.2)

    /// x[…, 128] → MatMul w1 (initializer, 128 × 160) → Relu → h → MatMul w2 (a `Constant`
    /// node, 160 × 136) → y; with `sharedRead`, also sum = ReduceSum(w1, axis 0) as a second output.
    static func model(sharedRead: Bool = false) -> Model {
        var nodes = [
            Node(opType: "Constant", inputs: [], outputs: ["w2"], name: "w2_const",
                 attributes: [Attribute(name: "value", value: .tensor(GraphTensor(name: "w2", tensor: Tensor(shape: [hidden, n], scalars: w2))))]),
            Node(opType: "MatMul", inputs: ["x", "w1"], outputs: ["xw"], name: "mm1"),
            Node(opType: "Relu", inputs: ["xw"], outputs: ["h"], name: "relu"),
            Node(opType: "MatMul", inputs: ["h", "w2"], outputs: ["y"], name: "mm2"),
        ]
        var outputs: [ValueInfo] = [.tensor("y", .float32, nil)]
        if sharedRead {
            nodes.append(Node(opType: "ReduceSum", inputs: ["w1", "axes"], outputs: ["sum"], name: "sum",
                              attributes: [Attribute(name: "keepdims", value: .int(0))]))
            outputs.append(.tensor("sum", .float32, nil))
        }
        let graph = Graph(name: "two_layers", nodes: nodes, inputs: [.tensor("x", .float32, nil)], outputs: outputs,
                          initializers: [GraphTensor(name: "w1", tensor: Tensor(shape: [k, hidden], scalars: w1)),
                                         GraphTensor(name: "axes", tensor: Tensor(shape: [1], scalars: [Int64(0)]))])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
    }

    /// Relu(x · w1) · w2 for rows of 128, in double precision.
    static func expected(_ x: [Float]) -> [Double] {
        let rows = x.count / k
        var out: [Double] = []
        for row in 0..<rows {
            var h = [Double](repeating: 0, count: hidden)
            for j in 0..<hidden {
                for i in 0..<k { h[j] += Double(x[row * k + i]) * Double(w1[i * hidden + j]) }
                h[j] = max(h[j], 0)
            }
            for j in 0..<n {
                var sum = 0.0
                for i in 0..<hidden { sum += h[i] * Double(w2[i * n + j]) }
                out.append(sum)
            }
        }
        return out
    }

    static func check(_ session: Session, shape: [Int], seed: UInt64) throws {
        let x = TestModels.randomFloats(shape.reduce(1, *), seed: seed)
        let y = try #require(try session.run(["x": Tensor(shape: shape, scalars: x)])["y"])
        #expect(y.shape == Array(shape.dropLast()) + [n])
        let want = expected(x)
        let got = y.scalars(as: Float.self)
        let scale = want.map(abs).max() ?? 1
        #expect(got.count == want.count && zip(got, want).allSatisfy { abs(Double($0) - $1) <= 1e-5 * scale })
    }

    func weight(_ name: String, in model: Model) -> Tensor? {
        if let initializer = model.graph.initializers.first(where: { $0.name == name }) { return initializer.tensor }
        return model.graph.nodes.first { $0.outputs == [name] }?.constantValue
    }

    @Test func packedWeightsAreReleasedAndLaterRunsUseThePackedCopies() throws {
        let model = Self.model()
        let session = try Session(model: model)
        #expect(weight("w1", in: session.model)?.elementsReleased == false)
        try Self.check(session, shape: [4, Self.k], seed: 3)
        #expect(weight("w1", in: session.model)?.elementsReleased == true)
        #expect(weight("w2", in: session.model)?.elementsReleased == true)
        #expect(weight("w1", in: session.model)?.shape == [Self.k, Self.hidden])
        // The caller's model keeps its weights.
        #expect(weight("w1", in: model)?.scalars(as: Float.self) == Self.w1)
        #expect(weight("w2", in: model)?.scalars(as: Float.self) == Self.w2)
        // Other batch shapes, a vector, and a new plan (another output set) after the release.
        try Self.check(session, shape: [2, 3, Self.k], seed: 4)
        try Self.check(session, shape: [Self.k], seed: 5)
        let x = TestModels.randomFloats(Self.k, seed: 6)
        let h = try #require(try session.run(["x": Tensor(shape: [1, Self.k], scalars: x)], outputs: ["h", "y"])["y"])
        let want = Self.expected(x)
        #expect(zip(h.scalars(as: Float.self), want).allSatisfy { abs(Double($0) - $1) <= 1e-5 * (want.map(abs).max() ?? 1) })
        // Asking for a released weight is an error that names it, not a crash.
        #expect {
            _ = try session.run(["x": Tensor(shape: [1, Self.k], scalars: x)], outputs: ["w1"])
        } throws: { error in
            guard case .kernel(_, _, _, let reason)? = error as? RuntimeError else { return false }
            return reason.contains("'w1'") && reason.contains("packed")
        }
        // A wrong inner dimension is still reported from the packed copy.
        #expect(throws: RuntimeError.self) { _ = try session.run(["x": Tensor(shape: [2, 7], scalars: [Float](repeating: 1, count: 14))]) }
    }

    @Test func aWeightAnotherKernelReadsIsKept() throws {
        let session = try Session(model: Self.model(sharedRead: true))
        for seed: UInt64 in [7, 8] {
            try Self.check(session, shape: [3, Self.k], seed: seed)
            let x = Tensor(shape: [1, Self.k], scalars: TestModels.randomFloats(Self.k, seed: seed))
            let sum = try #require(try session.run(["x": x])["sum"]).scalars(as: Float.self)
            let want = (0..<Self.hidden).map { j in (0..<Self.k).reduce(0.0) { $0 + Double(Self.w1[$1 * Self.hidden + j]) } }
            #expect(zip(sum, want).allSatisfy { abs(Double($0) - $1) <= 1e-5 })
        }
        #expect(weight("w1", in: session.model)?.elementsReleased == false)
        #expect(weight("w2", in: session.model)?.elementsReleased == true)
    }

    /// A 1×1 convolution (filters 160 × 128, a Constant node as opset-11 exports hold them) reads
    /// only its packed filters after the first run.
    @Test func convolutionFiltersAreReleasedToo() throws {
        let filters = Tensor(shape: [Self.hidden, Self.k, 1, 1], scalars: Self.w1)
        let graph = Graph(
            name: "pointwise",
            nodes: [Node(opType: "Constant", inputs: [], outputs: ["w"], name: "w_const",
                         attributes: [Attribute(name: "value", value: .tensor(GraphTensor(name: "w", tensor: filters)))]),
                    Node(opType: "Conv", inputs: ["x", "w"], outputs: ["y"], name: "conv")],
            inputs: [.tensor("x", .float32, nil)], outputs: [.tensor("y", .float32, nil)])
        let session = try Session(model: Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 11)]))
        let positions = 9
        for seed: UInt64 in [11, 12] {
            let x = TestModels.randomFloats(Self.k * positions, seed: seed)
            let y = try #require(try session.run(["x": Tensor(shape: [1, Self.k, 3, 3], scalars: x)])["y"]).scalars(as: Float.self)
            for f in 0..<Self.hidden {
                for p in 0..<positions {
                    let want = (0..<Self.k).reduce(0.0) { $0 + Double(Self.w1[f * Self.k + $1]) * Double(x[$1 * positions + p]) }
                    #expect(abs(Double(y[f * positions + p]) - want) <= 1e-5 * 8, "filter \(f), position \(p)")
                }
            }
            #expect(weight("w", in: session.model)?.elementsReleased == true)
        }
    }
}
