import Foundation
import Testing
import _OctetTestSupport
import OctetData
import OctetGraph
@testable import OctetQuant

/// The accuracy comparison against closed-form cases: a model compared with itself, and with
/// a copy whose output is scaled (cosine 1, SQNR known).
struct AccuracyEvaluatorTests {
    @Test func identicalAndScaledModels() throws {
        let folder = try TemporaryFolder()
        try NPZArchive.write([("x", Tensor(shape: [5, 4], scalars: TestModels.randomFloats(20, seed: 1)))], to: folder.file("d.npz"))
        let data = try CalibrationData(paths: [folder.file("d.npz").path])
        let model = TestModels.linearRelu()
        let same = try AccuracyEvaluator(reference: model, quantized: model).evaluate(data, model: model) { _ in true }
        #expect(same.samples == 5)
        #expect(same.outputs.map(\.meanCosine) == [1] && same.outputs[0].sqnr == .infinity && same.outputs[0].top1Agreement == 1)
        // y' = 1.1 · y: cosine 1, error energy 0.01 of the signal → SQNR 20 dB.
        var scaled = model
        scaled.graph.nodes.append(Node(opType: "Mul", inputs: ["y_raw", "k"], outputs: ["y"], name: "scale"))
        scaled.graph.nodes[2].outputs = ["y_raw"]
        scaled.graph.initializers.append(GraphTensor(name: "k", tensor: Tensor(shape: [], scalars: [Float(1.1)])))
        let report = try AccuracyEvaluator(reference: model, quantized: scaled).evaluate(data, model: model) { $0 != 2 }
        #expect(report.samples == 4)
        #expect(abs(report.outputs[0].meanCosine - 1) < 1e-6 && abs(report.outputs[0].sqnr - 20) < 1e-3)
        #expect(report.outputs[0].top1Agreement == 1)
    }
}

/// Task accuracy against labels, on rows whose arg-max is known by construction.
struct TaskAccuracyTests {
    /// y = x (reference) and y = −x (quantized): the reference's arg-max is the row's largest
    /// column, the other's its smallest.
    func models() -> (Model, Model) {
        func model(_ op: String) -> Model {
            let graph = Graph(name: op, nodes: [Node(opType: op, inputs: ["x"], outputs: ["y"], name: op.lowercased())],
                              inputs: [.tensor("x", .float32, [.param("batch"), .value(4)])],
                              outputs: [.tensor("y", .float32, [.param("batch"), .value(4)])])
            return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
        }
        return (model("Identity"), model("Neg"))
    }

    @Test func countsCorrectRowsOfBothModels() throws {
        let folder = try TemporaryFolder()
        // Rows (largest column, smallest column): (0, 3), (1, 0), (2, 1), (3, 2), (0, 1).
        let rows: [[Float]] = [[4, 2, 1, 0], [0, 5, 1, 2], [1, 0, 3, 2], [2, 3, 0, 4], [9, 0, 5, 6]]
        try NPZArchive.write([("x", Tensor(shape: [5, 4], scalars: rows.flatMap { $0 }))], to: folder.file("d.npz"))
        let data = try CalibrationData(paths: [folder.file("d.npz").path])
        let (reference, negated) = models()
        // Labels: the largest column except in the last row (4/5 right for FP32), where the
        // label is the smallest column (the negated model's only right row: 1/5).
        let labels = [0, 1, 2, 3, 1]
        let result = try AccuracyEvaluator(reference: reference, quantized: negated).evaluate(data, model: reference, labels: labels) { _ in true }
        let task = try #require(result.task)
        #expect(task.output == "y" && task.rows == 5)
        #expect(task.fp32 == 0.8 && task.int8 == 0.2)
        #expect(abs(task.dropPoints - 60) < 1e-9)
    }

    @Test func labelsThatDoNotFitAreNamed() throws {
        let folder = try TemporaryFolder()
        try NPZArchive.write([("x", Tensor(shape: [3, 4], scalars: TestModels.randomFloats(12, seed: 2)))], to: folder.file("d.npz"))
        let data = try CalibrationData(paths: [folder.file("d.npz").path])
        let (reference, negated) = models()
        let evaluator = try AccuracyEvaluator(reference: reference, quantized: negated)
        #expect(throws: AccuracyEvaluator.LabelError.countMismatch(labels: 2, rows: 3, output: "y")) {
            try evaluator.evaluate(data, model: reference, labels: [0, 1]) { _ in true }
        }
        #expect(throws: AccuracyEvaluator.LabelError.outOfRange(index: 1, label: 4, classes: 4)) {
            try evaluator.evaluate(data, model: reference, labels: [0, 4, 1]) { _ in true }
        }
    }
}
