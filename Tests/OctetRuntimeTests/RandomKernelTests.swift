import Foundation
import Testing
@testable import OctetGraph
@testable import OctetRuntime

/// The random operators: the same values for the same seed on every run, fresh ones for another
/// seed, and the distributions' closed-form moments (mean and spread of a uniform on [low, high),
/// of a normal with mean and scale, Bernoulli of p = 0 and 1, Multinomial of one dominant class).
struct RandomKernelTests {
    /// A one-node model `op(inputs) → y` at opset 22 with `attributes`.
    static func model(_ op: String, inputs: [ValueInfo] = [], _ attributes: [Attribute]) -> Model {
        let graph = Graph(name: op, nodes: [Node(opType: op, inputs: inputs.map(\.name), outputs: ["y"], name: op, attributes: attributes)],
                          inputs: inputs, outputs: [ValueInfo(name: "y", type: .unknown)], initializers: [])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 22)])
    }

    static func run(_ model: Model, _ feeds: [String: Tensor] = [:]) throws -> [Double] {
        try #require(try Session(model: model).run(feeds)["y"]).doubles()
    }

    static func uniform(seed: Float) -> Model {
        model("RandomUniform", [Attribute(name: "shape", value: .ints([20_000])), Attribute(name: "low", value: .float(-2)),
                                Attribute(name: "high", value: .float(5)), Attribute(name: "seed", value: .float(seed))])
    }

    @Test func aSeedGivesTheSameValuesEveryRun() throws {
        let first = try Self.run(Self.uniform(seed: 3))
        #expect(try Self.run(Self.uniform(seed: 3)) == first)
        #expect(try Self.run(Self.uniform(seed: 4)) != first)
    }

    @Test func uniformValuesFillTheRange() throws {
        let values = try Self.run(Self.uniform(seed: 3))
        #expect(values.allSatisfy { $0 >= -2 && $0 < 5 })
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        // Uniform on [−2, 5): mean 1.5, variance 7² / 12 ≈ 4.083; 20,000 draws.
        #expect(abs(mean - 1.5) < 0.06)
        #expect(abs(variance - 49.0 / 12) < 0.15)
    }

    @Test func normalValuesHaveTheirMeanAndScale() throws {
        let values = try Self.run(Self.model("RandomNormal", [Attribute(name: "shape", value: .ints([20_000])),
                                                              Attribute(name: "mean", value: .float(3)),
                                                              Attribute(name: "scale", value: .float(0.5)),
                                                              Attribute(name: "seed", value: .float(1))]))
        let mean = values.reduce(0, +) / Double(values.count)
        let deviation = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
        #expect(abs(mean - 3) < 0.02)
        #expect(abs(deviation - 0.5) < 0.02)
    }

    @Test func bernoulliOfZeroAndOneIsExact() throws {
        let p = Tensor(shape: [6], scalars: [Float]([0, 1, 0, 1, 1, 0]))
        let model = Self.model("Bernoulli", inputs: [.tensor("p", .float32, [.value(6)])], [Attribute(name: "seed", value: .float(9))])
        #expect(try Self.run(model, ["p": p]) == [0, 1, 0, 1, 1, 0])
    }

    @Test func multinomialFollowsTheLogits() throws {
        let logits = Tensor(shape: [2, 3], scalars: [Float]([0, 0, 30, 30, 0, 0]))
        let model = Self.model("Multinomial", inputs: [.tensor("logits", .float32, [.value(2), .value(3)])],
                               [Attribute(name: "sample_size", value: .int(50)), Attribute(name: "seed", value: .float(2))])
        let draws = try Self.run(model, ["logits": logits])
        #expect(draws.count == 100)
        #expect(draws[..<50].allSatisfy { $0 == 2 } && draws[50...].allSatisfy { $0 == 0 })
    }
}
