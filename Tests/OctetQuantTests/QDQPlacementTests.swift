import Foundation
import Testing
import _OctetTestSupport
import OctetData
import OctetGraph
import OctetRuntime
@testable import OctetQuant

/// Q/DQ placement by TensorRT's rules and the rewrite that inserts the pairs; the Q/DQ model
/// runs on the engine and stays close to FP32.
struct QDQPlacementTests {
    static func calibratedRanges(_ model: Model, samples: Int = 16) throws -> [String: TensorRange] {
        let folder = try TemporaryFolder()
        let values = TestModels.randomFloats(samples * 72, seed: 11, scale: 2)
        try NPZArchive.write([("x", Tensor(shape: [samples, 2, 6, 6], scalars: values))], to: folder.file("d.npz"))
        let statistics = try Calibrator(model: model, modelHash: "test").calibrate(try CalibrationData(paths: [folder.file("d.npz").path])).statistics
        return Dictionary(try statistics.ranges(.minmax).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    @Test func tensorRTPlacementOnAResidualCNN() throws {
        let model = TestModels.maskedCNN()
        let ranges = try Self.calibratedRanges(model)
        let placement = Placement.place(in: model.graph, ranges: ranges)
        #expect(placement.decisions.map(\.node) == ["'conv' (Conv)", "'skip' (Conv)", "'residual' (Add)", "'fc' (Gemm)"])
        #expect(placement.decisions.allSatisfy { $0.skipped == nil })
        #expect(placement.marks.map(\.value) == ["x", "conv.w", "x", "skip.w", "relu", "flat", "fc.w"])
        #expect(placement.marks.map(\.axis) == [nil, 0, nil, 0, nil, nil, 0])

        var editor = GraphEditor(model.graph)
        let replaced = try QDQRewriter.apply(&editor, placement: placement, ranges: ranges)
        #expect(replaced["x"]?.count == 2, "one Q/DQ pair per consumer")
        var quantized = model
        quantized.graph = editor.graph
        #expect(quantized.graph.nodes.filter { $0.opType == "QuantizeLinear" }.count == 7)
        #expect(quantized.graph.validate(model: quantized).isEmpty)
        let weightScale = try #require(quantized.graph.initializers.first { $0.name == "conv.w_scale" }?.tensor)
        #expect(weightScale.shape == [4])
        let zero = try #require(quantized.graph.initializers.first { $0.name == "x_zero_point" }?.tensor)
        #expect(zero.dtype == .int8 && zero.shape == [])

        let x = Tensor(shape: [4, 2, 6, 6], scalars: TestModels.randomFloats(288, seed: 12, scale: 2))
        let reference = try #require(try Session(model: model).run(["x": x], outputs: ["logits"])["logits"]).scalars(as: Float.self)
        let int8 = try #require(try Session(model: quantized).run(["x": x], outputs: ["logits"])["logits"]).scalars(as: Float.self)
        let signal = reference.reduce(0) { $0 + Double($1 * $1) }
        let noise = zip(reference, int8).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        #expect(10 * log10(signal / max(noise, 1e-30)) > 25, "SQNR of the INT8 logits")
    }

    @Test func skippedCandidatesSayWhy() throws {
        let model = TestModels.maskedCNN()
        var ranges = try Self.calibratedRanges(model)
        ranges["flat"]?.nonFinite = 3
        let placement = Placement.place(in: model.graph, ranges: ranges, policy: PlacementPolicy(excludedNodes: ["sk.*"]))
        #expect(placement.decisions.first { $0.node == "'skip' (Conv)" }?.skipped == "excluded by --exclude-nodes")
        #expect(placement.decisions.first { $0.node == "'fc' (Gemm)" }?.skipped == "'flat' held NaN/inf values during calibration")
        #expect(!placement.decisions.contains { $0.opType == "Add" }, "no residual Q/DQ without a quantized Conv on the other input")
        let small = Placement.place(in: TestModels.linearRelu().graph, ranges: ["x": try #require(ranges["x"])])
        #expect(small.decisions.first?.skipped == "MatMul is 4×3: K or N below 16 (GEMV-shaped or tiny)")
    }

    /// x: float32[batch, 16] → If(flag): then = MatMul(x, W, outer weight) → Relu → MatMul(·, V,
    /// the branch's own weight); else = MatMul(Tanh(x), W). Calibrated with flag = true only.
    static func branchModel() -> Model {
        let w = Tensor(shape: [16, 16], scalars: TestModels.randomFloats(256, seed: 21, scale: 0.3))
        let v = Tensor(shape: [16, 16], scalars: TestModels.randomFloats(256, seed: 22, scale: 0.3))
        let thenBranch = Graph(name: "then_branch", nodes: [
            Node(opType: "MatMul", inputs: ["x", "W"], outputs: ["t1"], name: "then_mm"),
            Node(opType: "Relu", inputs: ["t1"], outputs: ["t2"], name: "then_relu"),
            Node(opType: "MatMul", inputs: ["t2", "V"], outputs: ["then_out"], name: "then_mm2"),
        ], outputs: [.tensor("then_out", .float32, nil)], initializers: [GraphTensor(name: "V", tensor: v)])
        let elseBranch = Graph(name: "else_branch", nodes: [
            Node(opType: "Tanh", inputs: ["x"], outputs: ["e1"], name: "else_tanh"),
            Node(opType: "MatMul", inputs: ["e1", "W"], outputs: ["else_out"], name: "else_mm"),
        ], outputs: [.tensor("else_out", .float32, nil)])
        let graph = Graph(
            name: "branches",
            nodes: [Node(opType: "If", inputs: ["flag"], outputs: ["y"], name: "choose",
                         attributes: [Attribute(name: "then_branch", value: .graph(thenBranch)), Attribute(name: "else_branch", value: .graph(elseBranch))])],
            inputs: [.tensor("x", .float32, [.param("batch"), .value(16)]), .tensor("flag", .bool, [])],
            outputs: [.tensor("y", .float32, [.param("batch"), .value(16)])],
            initializers: [GraphTensor(name: "W", tensor: w)])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
    }

    @Test func bodiesGetQDQWhereEveryQuantizedInputWasObserved() throws {
        let model = Self.branchModel()
        let folder = try TemporaryFolder()
        try NPZArchive.write([("x", Tensor(shape: [8, 16], scalars: TestModels.randomFloats(128, seed: 23))),
                              ("flag", Tensor(shape: [8], scalars: [Bool](repeating: true, count: 8)))], to: folder.file("d.npz"))
        let statistics = try Calibrator(model: model, modelHash: "test").calibrate(try CalibrationData(paths: [folder.file("d.npz").path])).statistics
        let ranges = Dictionary(try statistics.ranges(.minmax).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(ranges["t2"] != nil && ranges["e1"] == nil, "only the then-branch ran")
        let placement = Placement.place(in: model.graph, ranges: ranges)
        #expect(placement.decisions.map(\.node) == ["'then_mm' (MatMul) in 'choose' (If).then_branch", "'then_mm2' (MatMul) in 'choose' (If).then_branch",
                                                    "'else_mm' (MatMul) in 'choose' (If).else_branch"])
        #expect(placement.decisions.map { $0.skipped == nil } == [true, true, false])
        #expect(placement.decisions[2].skipped?.hasPrefix("'e1' was not observed") == true && placement.decisions[2].missingRange == nil)
        #expect(placement.marks.map(\.value) == ["x", "W", "t2", "V"])
        #expect(placement.marks.allSatisfy { $0.subgraph == [Placement.Step(node: 0, attribute: "then_branch")] })

        var editor = GraphEditor(model.graph)
        try QDQRewriter.apply(&editor, placement: placement, ranges: ranges, weightsInt8: true)
        var quantized = model
        quantized.graph = editor.graph
        #expect(quantized.graph.validate(model: quantized).isEmpty)
        #expect(quantized.graph.initializers.map(\.name) == ["W"], "the float weight stays for the else-branch")
        guard case .graph(let branch)? = quantized.graph.nodes.first?.attributes.first(where: { $0.name == "then_branch" })?.value else {
            Issue.record("no then_branch")
            return
        }
        #expect(branch.nodes.filter { $0.opType == "DequantizeLinear" }.count == 4)
        #expect(branch.initializers.first { $0.name == "W_quantized" }?.tensor.dtype == .int8)
        let x = Tensor(shape: [4, 16], scalars: TestModels.randomFloats(64, seed: 24))
        for flag in [true, false] {
            let feeds = ["x": x, "flag": Tensor(shape: [], scalars: [flag])]
            let reference = try #require(try Session(model: model).run(feeds)["y"]).scalars(as: Float.self)
            let int8 = try #require(try Session(model: quantized).run(feeds)["y"]).scalars(as: Float.self)
            let signal = reference.reduce(0) { $0 + Double($1 * $1) }
            let noise = zip(reference, int8).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            if flag {
                #expect(10 * log10(signal / max(noise, 1e-30)) > 15, "SQNR of two INT8 MatMuls in the then-branch")
            } else {
                #expect(noise == 0, "the else-branch stays FP32")
            }
        }
    }

    @Test func int8WeightsRoundHalfToEvenPerChannel() {
        let weight = Tensor(shape: [2, 2], scalars: [Float(0.5), -1, 2, 1])
        let scales = [Int8Quantization.scale(amax: 1), Int8Quantization.scale(amax: 2)]
        let codes = QDQRewriter.quantizePerChannel(weight, scales: scales, axis: 0).scalars(as: Int8.self)
        // 0.5 · 127 = 63.5 → 64 (half to even); −1 → −127; 2 → 127; 1 / (2/127) = 63.5 → 64.
        #expect(codes == [64, -127, 127, 64])
        let columns = QDQRewriter.quantizePerChannel(weight, scales: scales, axis: 1).scalars(as: Int8.self)
        #expect(columns == [64, -64, 127, 64])
    }
}
