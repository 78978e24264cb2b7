import Testing
import _OctetTestSupport
@testable import OctetGraph

/// Structural validation reports every problem at once, naming nodes and values.
struct ValidationTests {
    @Test func soundModelHasNoProblems() {
        let model = TestModels.linearRelu()
        #expect(model.graph.validate(model: model).isEmpty)
        #expect(model.graph.topologicalOrder() == [0, 1, 2])
    }

    @Test func reportsAllProblemsTogether() {
        var model = TestModels.linearRelu()
        model.graph.nodes[1].inputs = ["xw", "missing_bias"]
        model.graph.nodes.append(Node(opType: "Identity", inputs: ["x"], outputs: ["xw"]))
        model.graph.nodes.append(Node(opType: "Gelu", inputs: ["y"], outputs: ["z"], name: "gelu", domain: "com.microsoft"))
        model.graph.outputs.append(.tensor("nowhere", .float32, nil))
        let problems = model.graph.validate(model: model)
        #expect(problems.contains("node 'add' (Add) reads 'missing_bias', which no graph input, initializer or node defines"))
        #expect(problems.contains("value 'xw' is defined twice: by node 'matmul' (MatMul) and by node unnamed Identity node #3 producing 'xw'"))
        #expect(problems.contains("node 'gelu' (Gelu) uses domain 'com.microsoft', which the model's opset_import does not list"))
        #expect(problems.contains("graph output 'nowhere' is not produced by any node, input or initializer"))
        #expect(problems.count == 4)
    }

    @Test func detectsCycles() {
        var model = TestModels.linearRelu()
        model.graph.nodes[0].inputs = ["y", "W"]
        model.graph.inputs = []
        let problems = model.graph.validate(model: model)
        #expect(problems == ["the graph has a cycle through 3 node(s): 'matmul' (MatMul), 'add' (Add), 'relu' (Relu)"])
        #expect(model.graph.topologicalOrder() == nil)
    }

    @Test func unsortedGraphsAreAcceptedAndOrdered() {
        var model = TestModels.linearRelu()
        model.graph.nodes.reverse()
        #expect(model.graph.validate(model: model).isEmpty)
        #expect(model.graph.topologicalOrder() == [2, 1, 0])
    }

    @Test func subgraphsSeeOuterScope() {
        var model = TestModels.linearRelu()
        let thenBranch = Graph(name: "then", nodes: [Node(opType: "Neg", inputs: ["xw"], outputs: ["t"])],
                               outputs: [.tensor("t", .float32, nil)])
        let elseBranch = Graph(name: "else", nodes: [Node(opType: "Abs", inputs: ["undefined"], outputs: ["e"])],
                               outputs: [.tensor("e", .float32, nil)])
        model.graph.inputs.append(.tensor("flag", .bool, []))
        model.graph.nodes.append(Node(opType: "If", inputs: ["flag"], outputs: ["branch"], name: "if",
                                      attributes: [Attribute(name: "then_branch", value: .graph(thenBranch)),
                                                   Attribute(name: "else_branch", value: .graph(elseBranch))]))
        let problems = model.graph.validate(model: model)
        #expect(problems == ["in subgraph 'if' (If).else_branch: node unnamed Abs node #0 producing 'e' reads 'undefined', which no graph input, initializer or node defines"])
        #expect(model.graph.nodes[3].attributes[0].value.subgraphs[0].capturedNames == ["xw"])
        // The If must follow the MatMul whose output its branch captures, even if listed first.
        model.graph.nodes.insert(model.graph.nodes.removeLast(), at: 0)
        #expect(model.graph.topologicalOrder() == [1, 0, 2, 3])
    }

    @Test func ignoresEmptyOptionalNames() {
        var model = TestModels.linearRelu()
        model.graph.nodes[2].inputs.append("")
        model.graph.nodes[2].outputs.append("")
        #expect(model.graph.validate(model: model).isEmpty)
    }
}
