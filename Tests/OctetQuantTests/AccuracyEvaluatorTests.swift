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
