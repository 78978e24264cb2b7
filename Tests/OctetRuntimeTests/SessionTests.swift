import Foundation
import Testing
import _OctetTestSupport
@testable import OctetRuntime
@testable import OctetGraph

/// The executor: lifetime planning, observer hook, unsupported-operator reports, errors that
/// name the node. Kernel numerics are checked against the ONNX node tests and ONNX Runtime in
/// the interop suite.
struct SessionTests {
    static let input = Tensor(shape: [2, 4], scalars: (0..<8).map { Float($0) / 4 - 1 })

    @Test func linearReluMatchesClosedForm() throws {
        let model = TestModels.linearRelu()
        let session = try Session(model: model)
        let output = try #require(try session.run(["x": Self.input])["y"])
        let w = model.graph.initializers[0].tensor.scalars(as: Float.self)
        let b = model.graph.initializers[1].tensor.scalars(as: Float.self)
        let x = Self.input.scalars(as: Float.self)
        var expected = [Float](repeating: 0, count: 6)
        for i in 0..<2 {
            for j in 0..<3 {
                var total: Float = 0
                for k in 0..<4 { total += x[i * 4 + k] * w[k * 3 + j] }
                expected[i * 3 + j] = max(0, total + b[j])
            }
        }
        #expect(output.shape == [2, 3])
        for (got, want) in zip(output.scalars(as: Float.self), expected) { #expect(abs(got - want) < 1e-6) }
    }

    @Test func observerSeesEveryValueOnce() throws {
        let session = try Session(model: TestModels.linearRelu())
        var seen: [String] = []
        _ = try session.run(["x": Self.input]) { name, _ in seen.append(name) }
        #expect(seen == ["x", "xw", "pre", "y"])
    }

    @Test func intermediatesAreFreedAfterTheirLastConsumer() throws {
        let model = TestModels.linearRelu()
        let plan = try GraphPlan(graph: model.graph, model: model, registry: .standard, keep: [])
        #expect(plan.steps.map(\.releases) == [[], ["xw"], ["pre"]])
        let session = try Session(model: model)
        _ = try session.run(["x": Self.input])
        // At most two intermediates of 2×3 floats are alive at once (the one read and the one made).
        #expect(session.peakBytes == 2 * 24)
        let everything = try session.run(["x": Self.input], outputs: ["xw", "pre", "y"])
        #expect(everything.keys.sorted() == ["pre", "xw", "y"])
    }

    @Test func unsupportedOperatorsAreListedTogether() throws {
        var model = TestModels.linearRelu()
        model.graph.nodes[1] = Node(opType: "FancyOp", inputs: ["xw", "b"], outputs: ["pre"], name: "fancy1", domain: "com.example")
        model.graph.nodes[2] = Node(opType: "FancyOp", inputs: ["pre"], outputs: ["y"], name: "fancy2", domain: "com.example")
        model.opsetImports.append(OpsetImport(domain: "com.example", version: 3))
        #expect(throws: RuntimeError.unsupportedOperators([
            UnsupportedOperator(opType: "FancyOp", domain: "com.example", opset: 3, nodes: ["'fancy1' (FancyOp)", "'fancy2' (FancyOp)"]),
        ])) { try Session(model: model) }
    }

    @Test func shapeErrorsNameTheNode() throws {
        let session = try Session(model: TestModels.linearRelu())
        let wrong = Tensor(shape: [2, 5], scalars: [Float](repeating: 1, count: 10))
        do {
            _ = try session.run(["x": wrong])
            Issue.record("a mismatched MatMul ran")
        } catch {
            #expect(error.localizedDescription == "node 'matmul' (MatMul) with inputs float32[2, 5], float32[4, 3]: inner dimensions differ: [2, 5] × [4, 3]")
        }
        #expect(throws: RuntimeError.missingInput(name: "x")) { try session.run([:]) }
        #expect(throws: RuntimeError.unknownInput(name: "z", expected: ["x"])) { try session.run(["x": Self.input, "z": Self.input]) }
    }

    @Test(arguments: [([100_000, 100_000, 100], "needs 4000.0 GB"), ([2, -3], "has a negative dimension")])
    func impossibleShapesAreErrorsNotCrashes(shape: [Int], words: String) throws {
        let graph = Graph(nodes: [Node(opType: "ConstantOfShape", inputs: ["s"], outputs: ["y"], name: "make")],
                          outputs: [.tensor("y", .float32, nil)],
                          initializers: [GraphTensor(name: "s", tensor: Tensor(shape: [shape.count], scalars: shape.map { Int64($0) }))])
        let session = try Session(model: Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 17)]))
        do {
            _ = try session.run([:])
            Issue.record("ran")
        } catch {
            #expect(error.localizedDescription.hasPrefix("node 'make' (ConstantOfShape) with inputs int64[\(shape.count)]: output shape"))
            #expect(error.localizedDescription.contains(words))
        }
    }

    @Test func resultsDoNotDependOnThreadCount() throws {
        let session = try Session(model: TestModels.linearRelu())
        let big = Tensor(shape: [512, 4], scalars: (0..<2048).map { Float($0 % 97) / 13 - 3 })
        let saved = ThreadPool.threads
        defer { ThreadPool.threads = saved }
        ThreadPool.threads = 1
        let one = try session.run(["x": big])["y"]
        ThreadPool.threads = 4
        let four = try session.run(["x": big])["y"]
        #expect(one == four)
    }

    @Test func ifBranchesReadOuterValues() throws {
        var model = TestModels.linearRelu()
        let thenBranch = Graph(name: "then", nodes: [Node(opType: "Neg", inputs: ["xw"], outputs: ["t"])], outputs: [.tensor("t", .float32, nil)])
        let elseBranch = Graph(name: "else", nodes: [Node(opType: "Abs", inputs: ["xw"], outputs: ["e"])], outputs: [.tensor("e", .float32, nil)])
        model.graph.inputs.append(.tensor("flag", .bool, []))
        model.graph.nodes.append(Node(opType: "If", inputs: ["flag"], outputs: ["branch"], name: "if",
                                      attributes: [Attribute(name: "then_branch", value: .graph(thenBranch)),
                                                   Attribute(name: "else_branch", value: .graph(elseBranch))]))
        model.graph.outputs.append(.tensor("branch", .float32, nil))
        let session = try Session(model: model)
        let yes = try session.run(["x": Self.input, "flag": Tensor(shape: [], scalars: [true])])
        let no = try session.run(["x": Self.input, "flag": Tensor(shape: [], scalars: [false])])
        let xw = try session.run(["x": Self.input, "flag": Tensor(shape: [], scalars: [true])], outputs: ["xw"])["xw"]
        let values = try #require(xw).scalars(as: Float.self)
        #expect(yes["branch"]?.scalars(as: Float.self) == values.map { -$0 })
        #expect(no["branch"]?.scalars(as: Float.self) == values.map { abs($0) })
        // The observer also sees values made inside the branch that runs.
        var seen: [String] = []
        _ = try session.run(["x": Self.input, "flag": Tensor(shape: [], scalars: [true])]) { name, _ in seen.append(name) }
        #expect(seen == ["x", "flag", "xw", "pre", "y", "t", "branch"])
    }
}
