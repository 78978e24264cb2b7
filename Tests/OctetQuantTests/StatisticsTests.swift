import COctetKernels
import Foundation
import Testing
import _OctetTestSupport
import OctetData
import OctetGraph
import OctetRuntime
@testable import OctetQuant

/// Statistics through the full path (engine observer → histogram → range) against SPEC §4's
/// closed-form vectors, and the exactness that sharding and merging rely on.
struct StatisticsTests {
    /// A tensor holding `counts[k]` values at the centre of bin k (width 1/512), signs alternating.
    static func binCentres(_ counts: [Int64]) -> Tensor {
        let total = Int(counts.reduce(0, +))
        return Tensor.build(Float.self, shape: [total]) { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            for (bin, count) in counts.enumerated() where count > 0 {
                let value = (Float(bin) + 0.5) / 512
                (base + offset).update(repeating: bin % 2 == 0 ? value : -value, count: Int(count))
                offset += Int(count)
            }
        }
    }

    static func observe(_ model: Model, feeds: [[String: Tensor]]) throws -> StatisticsCollector {
        let session = try Session(model: model)
        let collector = StatisticsCollector()
        for feed in feeds { _ = try session.run(feed, observer: collector.observer) }
        return collector
    }

    @Test(arguments: [
        ("C", RangeAlgorithmTests.vectorCCounts, 1.25, 1.07421875, 1.326171875, 1.1162109),
        ("A", RangeAlgorithmTests.vectorACounts, 4.0, 3.767578125, 3.962890625, 3.6982422),
    ])
    func specVectorsThroughTheEngine(name: String, counts: [Int64], entropy: Double, p9999: Double, p99999: Double, mse: Double) throws {
        let collector = try Self.observe(TestModels.identity(), feeds: [["x": Self.binCentres(counts)]])
        for tensor in ["x", "y"] {
            let statistics = try #require(collector.tensors[tensor])
            #expect(statistics.histogram.exponent == -9, "vector \(name): bins of width 1/512")
            #expect(statistics.histogram.counts == counts)
            #expect(try RangeAlgorithm.entropy.amax(statistics.histogram) == entropy)
            #expect(try RangeAlgorithm.percentile(99.99).amax(statistics.histogram) == p9999)
            #expect(try RangeAlgorithm.percentile(99.999).amax(statistics.histogram) == p99999)
            #expect(abs(try RangeAlgorithm.mse.amax(statistics.histogram) - mse) < 1e-6)
            let last = Float(try #require(counts.lastIndex { $0 > 0 })) + 0.5
            #expect(try RangeAlgorithm.minmax.amax(statistics.histogram) == Double(last / 512))
        }
    }

    @Test func nonFiniteValuesAreCountedAndLeftOut() throws {
        let feeds = [["x": Tensor(shape: [2, 2, 6, 6], scalars: TestModels.randomFloats(144, seed: 1))]]
        let collector = try Self.observe(TestModels.maskedCNN(), feeds: feeds)
        let mask = try #require(collector.tensors["mask"])
        let masked = try #require(collector.tensors["masked"])
        #expect(mask.nonFinite > 0 && mask.nonFinite == masked.nonFinite)
        #expect(mask.count + mask.nonFinite == 6 && mask.absmax == 0)
        #expect(masked.maximum.map { $0.isFinite } == true && masked.absmax.isFinite)
        #expect(collector.tensors["keep"] == nil, "boolean tensors are not observed")
        #expect(try RangeAlgorithm.entropy.amax(masked.histogram).isFinite)
    }

    @Test func layoutOutputsTakeTheirInputsStatisticsExactly() throws {
        let graph = Graph(
            name: "layout",
            nodes: [
                Node(opType: "Relu", inputs: ["x"], outputs: ["relu"], name: "relu"),
                Node(opType: "Transpose", inputs: ["relu"], outputs: ["moved"], name: "transpose", attributes: [Attribute(name: "perm", value: .ints([1, 0]))]),
                Node(opType: "Reshape", inputs: ["moved", "flat"], outputs: ["reshaped"], name: "reshape"),
                Node(opType: "Reshape", inputs: ["x", "flat"], outputs: ["x_flat"], name: "reshape_x"),
                Node(opType: "Concat", inputs: ["reshaped", "x_flat"], outputs: ["joined"], name: "concat", attributes: [Attribute(name: "axis", value: .int(0))]),
                Node(opType: "Neg", inputs: ["joined"], outputs: ["y"], name: "neg"),
            ],
            inputs: [.tensor("x", .float32, [.param("n"), .value(3)])],
            outputs: [.tensor("y", .float32, [.param("m")])],
            initializers: [GraphTensor(name: "flat", tensor: Tensor(shape: [1], scalars: [Int64(-1)]))])
        let model = Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
        let session = try Session(model: model)
        let derived = StatisticsCollector(graph: model.graph)
        let binned = StatisticsCollector()
        for (index, rows) in [4, 1, 7, 2].enumerated() {
            let feeds = ["x": Tensor(shape: [rows, 3], scalars: TestModels.randomFloats(rows * 3, seed: UInt64(index), scale: Float(index * 3 + 1)))]
            derived.startRun()
            _ = try session.run(feeds, observer: derived.observer)
            _ = try session.run(feeds, observer: binned.observer)
        }
        #expect(Set(derived.tensors.keys) == ["x", "relu", "moved", "reshaped", "x_flat", "joined", "y"])
        for (name, statistics) in binned.tensors { #expect(derived.tensors[name] == statistics, "\(name)") }
        #expect(derived.tensors["moved"] == derived.tensors["relu"])
    }

    @Test func portableAndVectorKernelsAgree() throws {
        defer { octet_stats_set_portable(0) }
        for (index, count) in [5, 9_000, 20_000, 300_001].enumerated() {
            var values = TestModels.randomFloats(count, seed: UInt64(index), scale: 40)
            for position in stride(from: 3, to: count, by: 97) { values[position] = [Float.nan, .infinity, -.infinity, 0][position % 4] }
            let tensor = Tensor(shape: [count], scalars: values)
            var results: [TensorStatistics] = []
            var digests: [[UInt8]] = []
            var mse: [Double] = []
            for portable: Int32 in [0, 1] {
                octet_stats_set_portable(portable)
                #expect(octet_stats_portable() == portable)
                var statistics = TensorStatistics()
                statistics.add(tensor)
                var again = statistics  // a second batch goes through the one-pass path
                again.add(tensor)
                results += [statistics, again]
                mse.append(try RangeAlgorithm.mse.amax(again.histogram))
                var hash = SHA256()
                tensor.withUnsafeBytes { hash.update($0) }
                digests.append(hash.finalize())
            }
            #expect(results[0] == results[2] && results[1] == results[3], "\(count) values")
            #expect(results[1].count == 2 * results[0].count && results[1].histogram.total == 2 * results[0].histogram.total)
            #expect(digests[0] == digests[1])
            #expect(mse[0] == mse[1] && mse[0] > 0)
        }
    }

    @Test func weightsPerChannel() {
        let weights = WeightStatistics.collect(from: TestModels.maskedCNN().graph)
        #expect(weights.map(\.name) == ["conv.w", "skip.w", "fc.w"])
        #expect(weights.map(\.axis) == [0, 0, 0])
        let conv = TestModels.maskedCNN().graph.initializers[0].tensor.scalars(as: Float.self)
        let expected = (0..<4).map { channel in conv[(channel * 18)..<(channel * 18 + 18)].map(abs).max() ?? 0 }
        #expect(weights[0].channelAbsmax == expected)
        #expect(weights[0].absmax == expected.max())
        let matmul = WeightStatistics.collect(from: TestModels.linearRelu().graph)
        #expect(matmul.first?.axis == 1 && matmul.first?.channelAbsmax.count == 3)
    }
}
