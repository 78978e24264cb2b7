import Foundation
import Testing
import _OctetTestSupport
import OctetGraph
import OctetData
import OctetRuntime

/// Batching samples into one run is only an optimization: every tensor the engine produces for
/// a batch equals, row for row, the tensors of the samples run one by one.
struct BatchingTests {
    @Test func batchedRunsEqualSingleRuns() throws {
        let url = OctetProcess.repositoryRoot.appendingPathComponent("Examples/mini-encoder/model.onnx")
        let model = try Model.load(contentsOf: url)
        let session = try Session(model: model)
        let samples: [[String: Tensor]] = (0..<3).map { index in
            let ids = (0..<6).map { Int64(($0 * 7 + index * 11) % 50) }
            let mask = (0..<6).map { Int64($0 < 5 - index ? 1 : 0) }
            return ["input_ids": Tensor(shape: [1, 6], scalars: ids), "attention_mask": Tensor(shape: [1, 6], scalars: mask),
                    "token_type_ids": Tensor(shape: [1, 6], scalars: [Int64](repeating: 0, count: 6))]
        }
        var batcher = RunBatcher(batchSize: 3)
        var run: [String: Tensor]?
        for (index, sample) in samples.enumerated() { run = try batcher.add(sample, index: index) }
        let batched = try #require(run)
        var batchedValues: [String: Tensor] = [:]
        _ = try session.run(batched) { name, tensor in batchedValues[name] = tensor }
        var compared = 0
        for (index, sample) in samples.enumerated() {
            _ = try session.run(sample) { name, tensor in
                // Values with a leading batch axis: row `index` of the batched tensor.
                guard let whole = batchedValues[name], whole.rank >= 1, whole.shape[0] == 3, tensor.shape.first == 1,
                      whole.dtype == .float32 else { return }
                let rowSize = tensor.elementCount
                let row = Array(whole.scalars(as: Float.self)[index * rowSize..<(index + 1) * rowSize])
                #expect(row == tensor.scalars(as: Float.self), "\(name), sample \(index)")
                compared += 1
            }
        }
        #expect(compared > 60, "most intermediate tensors carry the batch axis")
    }
}
