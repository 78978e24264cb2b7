import COctetKernels
import Foundation
import OctetGraph
import Testing
import _OctetTestSupport
@testable import OctetRuntime

/// Fused sessions (BatchNorm folded into Conv, Conv → Relu in the GEMM stores) compute the graph
/// outputs of the unfused graph, and fuse only where the removed value has no other reader.
@Suite(.serialized) struct FusionTests {
    /// x → Conv → BatchNormalization → Relu → y, and a second Conv whose output is both a Relu's
    /// input and a graph output (so that pair must stay apart).
    static func model() -> Model {
        let values = { (count: Int, seed: UInt64) in TestModels.randomFloats(count, seed: seed, scale: 0.5) }
        let graph = Graph(
            name: "fusable",
            nodes: [
                Node(opType: "Conv", inputs: ["x", "w1", "b1"], outputs: ["c1"], name: "conv1",
                     attributes: [Attribute(name: "pads", value: .ints([1, 1, 1, 1]))]),
                Node(opType: "BatchNormalization", inputs: ["c1", "gamma", "beta", "mean", "var"], outputs: ["n1"], name: "bn1"),
                Node(opType: "Relu", inputs: ["n1"], outputs: ["y"], name: "relu1"),
                Node(opType: "Conv", inputs: ["x", "w2"], outputs: ["c2"], name: "conv2"),
                Node(opType: "Relu", inputs: ["c2"], outputs: ["r2"], name: "relu2"),
            ],
            inputs: [.tensor("x", .float32, [.param("n"), .value(3), .value(9), .value(11)])],
            outputs: [.tensor("y", .float32, nil), .tensor("c2", .float32, nil), .tensor("r2", .float32, nil)],
            initializers: [
                GraphTensor(name: "w1", tensor: Tensor(shape: [8, 3, 3, 3], scalars: values(216, 1))),
                GraphTensor(name: "b1", tensor: Tensor(shape: [8], scalars: values(8, 2))),
                GraphTensor(name: "gamma", tensor: Tensor(shape: [8], scalars: values(8, 3).map { 1 + $0 })),
                GraphTensor(name: "beta", tensor: Tensor(shape: [8], scalars: values(8, 4))),
                GraphTensor(name: "mean", tensor: Tensor(shape: [8], scalars: values(8, 5))),
                GraphTensor(name: "var", tensor: Tensor(shape: [8], scalars: values(8, 6).map { 1 + abs($0) })),
                GraphTensor(name: "w2", tensor: Tensor(shape: [5, 3, 1, 1], scalars: values(15, 7))),
            ])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
    }

    @Test func fusedSessionComputesTheGraphOutputs() throws {
        let model = Self.model()
        let fused = try Session(model: model, options: .init(fuse: true))
        #expect(fused.model.graph.nodes.map(\.opType) == ["Conv", "Conv", "Relu"], "BN and the first Relu fused; c2 is a graph output")
        #expect(fused.model.graph.nodes[0].outputs == ["y"])
        let plain = try Session(model: model)
        let x = Tensor(shape: [2, 3, 9, 11], scalars: TestModels.randomFloats(594, seed: 8, scale: 2))
        let want = try plain.run(["x": x])
        let got = try fused.run(["x": x])
        for name in ["y", "c2", "r2"] {
            let a = try #require(want[name]).scalars(as: Float.self)
            let b = try #require(got[name]).scalars(as: Float.self)
            #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * Swift.max(1, abs($0)) }, "\(name)")
        }
        #expect(try #require(got["y"]).scalars(as: Float.self).allSatisfy { $0 >= 0 })
    }

    /// Each activation form after a Conv (3×3, depthwise, 1×1): Mul(Sigmoid(y), y) in either
    /// order, Mul(y, HardSigmoid(y)), HardSwish, Sigmoid, HardSigmoid (a squeeze-excite gate,
    /// with its alpha and beta); and a SiLU whose Sigmoid output is also a graph output, which
    /// must stay apart.
    static func activationModel() -> Model {
        let values = { (count: Int, seed: UInt64) in TestModels.randomFloats(count, seed: seed, scale: 0.6) }
        let pads = Attribute(name: "pads", value: .ints([1, 1, 1, 1]))
        let graph = Graph(
            name: "activations",
            nodes: [
                Node(opType: "Conv", inputs: ["x", "w1", "b1"], outputs: ["c1"], name: "conv1", attributes: [pads]),
                Node(opType: "Sigmoid", inputs: ["c1"], outputs: ["s1"], name: "sig1"),
                Node(opType: "Mul", inputs: ["s1", "c1"], outputs: ["a1"], name: "silu1"),
                Node(opType: "Conv", inputs: ["a1", "wd"], outputs: ["c2"], name: "depthwise",
                     attributes: [pads, Attribute(name: "group", value: .int(8))]),
                Node(opType: "HardSigmoid", inputs: ["c2"], outputs: ["h2"], name: "hsig2",
                     attributes: [Attribute(name: "alpha", value: .float(0.25)), Attribute(name: "beta", value: .float(0.4))]),
                Node(opType: "Mul", inputs: ["c2", "h2"], outputs: ["a2"], name: "hswish2"),
                Node(opType: "Conv", inputs: ["a2", "wp"], outputs: ["c3"], name: "pointwise"),
                Node(opType: "HardSwish", inputs: ["c3"], outputs: ["a3"], name: "hswish3"),
                Node(opType: "Conv", inputs: ["a3", "w4"], outputs: ["c4"], name: "conv4", attributes: [pads]),
                Node(opType: "Sigmoid", inputs: ["c4"], outputs: ["y"], name: "sig4"),
                Node(opType: "Conv", inputs: ["a3", "w4"], outputs: ["c5"], name: "conv5", attributes: [pads]),
                Node(opType: "Sigmoid", inputs: ["c5"], outputs: ["s5"], name: "sig5"),
                Node(opType: "Mul", inputs: ["c5", "s5"], outputs: ["z"], name: "silu5"),
                Node(opType: "Conv", inputs: ["a3", "w4"], outputs: ["c6"], name: "conv6", attributes: [pads]),
                Node(opType: "HardSigmoid", inputs: ["c6"], outputs: ["u"], name: "gate6",
                     attributes: [Attribute(name: "alpha", value: .float(0.3)), Attribute(name: "beta", value: .float(0.45))]),
            ],
            inputs: [.tensor("x", .float32, [.param("n"), .value(3), .value(9), .value(21)])],
            outputs: [.tensor("y", .float32, nil), .tensor("z", .float32, nil), .tensor("s5", .float32, nil), .tensor("u", .float32, nil)],
            initializers: [
                GraphTensor(name: "w1", tensor: Tensor(shape: [8, 3, 3, 3], scalars: values(216, 11))),
                GraphTensor(name: "b1", tensor: Tensor(shape: [8], scalars: values(8, 12))),
                GraphTensor(name: "wd", tensor: Tensor(shape: [8, 1, 3, 3], scalars: values(72, 13))),
                GraphTensor(name: "wp", tensor: Tensor(shape: [13, 8, 1, 1], scalars: values(104, 14))),
                GraphTensor(name: "w4", tensor: Tensor(shape: [4, 13, 3, 3], scalars: values(468, 15))),
            ])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 14)])
    }

    @Test func everyActivationFormFusesAndComputesTheGraphOutputs() throws {
        let model = Self.activationModel()
        let fused = try Session(model: model, options: .init(fuse: true))
        #expect(fused.model.graph.nodes.map(\.opType) == ["Conv", "Conv", "Conv", "Conv", "Conv", "Sigmoid", "Mul", "Conv"],
                "five activations fused; conv5's Sigmoid is a graph output")
        let kinds = fused.model.graph.nodes.filter { $0.name != "conv5" && $0.opType == "Conv" }.map { node -> String in
            guard case .string(let data)? = node.attribute(FusedActivation.attribute)?.value else { return "" }
            return String(decoding: data, as: UTF8.self)
        }
        #expect(kinds == ["SiLU", "XHardSigmoid", "HardSwish", "Sigmoid", "HardSigmoid"])
        let plain = try Session(model: model)
        let x = Tensor(shape: [2, 3, 9, 21], scalars: TestModels.randomFloats(1134, seed: 16, scale: 3))
        let want = try plain.run(["x": x])
        let got = try fused.run(["x": x])
        for name in ["y", "z", "s5", "u"] {
            let a = try #require(want[name]).scalars(as: Float.self)
            let b = try #require(got[name]).scalars(as: Float.self)
            #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * Swift.max(1, abs($0)) }, "\(name)")
        }
    }

    /// Add → Relu fuses into one pass (broadcast and same-shape sums); an Add whose output is
    /// also a graph output keeps its Relu. NaN stays NaN, negative sums become 0.
    @Test func residualAddReluFuses() throws {
        let graph = Graph(
            name: "residual",
            nodes: [
                Node(opType: "Add", inputs: ["x", "y"], outputs: ["s1"], name: "add1"),
                Node(opType: "Relu", inputs: ["s1"], outputs: ["r1"], name: "relu1"),
                Node(opType: "Add", inputs: ["r1", "bias"], outputs: ["s2"], name: "add2"),
                Node(opType: "Relu", inputs: ["s2"], outputs: ["r2"], name: "relu2"),
                Node(opType: "Add", inputs: ["r2", "x"], outputs: ["s3"], name: "add3"),
                Node(opType: "Relu", inputs: ["s3"], outputs: ["r3"], name: "relu3"),
            ],
            inputs: [.tensor("x", .float32, [.value(2), .value(3), .value(5)]), .tensor("y", .float32, [.value(2), .value(3), .value(5)])],
            outputs: [.tensor("r3", .float32, nil), .tensor("s3", .float32, nil)],
            initializers: [GraphTensor(name: "bias", tensor: Tensor(shape: [5], scalars: [Float](arrayLiteral: -1, 0.5, -0.25, 2, -3)))])
        let model = Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 14)])
        let fused = try Session(model: model, options: .init(fuse: true))
        #expect(fused.model.graph.nodes.map(\.opType) == ["Add", "Add", "Add", "Relu"], "s3 is a graph output, so add3 keeps its Relu")
        var values = TestModels.randomFloats(30, seed: 21, scale: 2)
        values[7] = .nan
        let x = Tensor(shape: [2, 3, 5], scalars: values)
        let y = Tensor(shape: [2, 3, 5], scalars: TestModels.randomFloats(30, seed: 22, scale: 2))
        let want = try Session(model: model).run(["x": x, "y": y])
        let got = try fused.run(["x": x, "y": y])
        for name in ["r3", "s3"] {
            let a = try #require(want[name]).scalars(as: Float.self)
            let b = try #require(got[name]).scalars(as: Float.self)
            #expect(zip(a, b).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(name)")
        }
        #expect(try #require(got["r3"]).scalars(as: Float.self)[7].isNaN)
    }

    /// Conv → Add fuses into the Conv (its Relu too): the residual computed after the Conv in
    /// node order (the fused node takes the Add's place), a 3×3 and a 1×1 convolution summing
    /// in their epilogues; a broadcast residual and a depthwise Conv go through the Add kernel.
    /// Each output equals the unfused graph's bit for bit (the same sums in the same order).
    @Test func convAddFuses() throws {
        let values = { (count: Int, seed: UInt64) in TestModels.randomFloats(count, seed: seed, scale: 0.5) }
        let pads = Attribute(name: "pads", value: .ints([1, 1, 1, 1]))
        let graph = Graph(
            name: "residual-conv",
            nodes: [
                Node(opType: "Conv", inputs: ["x", "w1", "b1"], outputs: ["c1"], name: "conv1"),
                Node(opType: "Conv", inputs: ["x", "w2"], outputs: ["c2"], name: "conv2", attributes: [pads]),
                Node(opType: "Add", inputs: ["c2", "c1"], outputs: ["s1"], name: "add1"),
                Node(opType: "Relu", inputs: ["s1"], outputs: ["y1"], name: "relu1"),
                Node(opType: "Conv", inputs: ["y1", "w3", "b3"], outputs: ["c3"], name: "conv3", attributes: [pads]),
                Node(opType: "Add", inputs: ["c3", "y1"], outputs: ["q"], name: "add2"),
                Node(opType: "Conv", inputs: ["y1", "w3"], outputs: ["c4"], name: "conv4", attributes: [pads]),
                Node(opType: "Add", inputs: ["c4", "shift"], outputs: ["z"], name: "add3"),
                Node(opType: "Conv", inputs: ["x", "wd"], outputs: ["d"], name: "depthwise",
                     attributes: [pads, Attribute(name: "group", value: .int(4))]),
                Node(opType: "Add", inputs: ["x", "d"], outputs: ["zd"], name: "add4"),
            ],
            inputs: [.tensor("x", .float32, [.param("n"), .value(4), .value(9), .value(21)])],
            outputs: [.tensor("y1", .float32, nil), .tensor("q", .float32, nil), .tensor("z", .float32, nil), .tensor("zd", .float32, nil)],
            initializers: [
                GraphTensor(name: "w1", tensor: Tensor(shape: [6, 4, 1, 1], scalars: values(24, 31))),
                GraphTensor(name: "b1", tensor: Tensor(shape: [6], scalars: values(6, 32))),
                GraphTensor(name: "w2", tensor: Tensor(shape: [6, 4, 3, 3], scalars: values(216, 33))),
                GraphTensor(name: "w3", tensor: Tensor(shape: [6, 6, 3, 3], scalars: values(324, 34))),
                GraphTensor(name: "b3", tensor: Tensor(shape: [6], scalars: values(6, 35))),
                GraphTensor(name: "shift", tensor: Tensor(shape: [6, 1, 1], scalars: values(6, 36))),
                GraphTensor(name: "wd", tensor: Tensor(shape: [4, 1, 3, 3], scalars: values(36, 37))),
            ])
        let model = Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
        let fused = try Session(model: model, options: .init(fuse: true))
        let nodes = fused.model.graph.nodes
        #expect(nodes.map(\.opType) == ["Conv", "Conv", "Conv", "Conv", "Conv"], "every Add fused into its Conv")
        #expect(nodes.map(\.name) == ["conv2", "conv1", "conv3", "conv4", "depthwise"], "conv1 runs where add1 was, after conv2")
        #expect(nodes[1].inputs == ["x", "w1", "b1", "c2"] && nodes[1].outputs == ["y1"])
        #expect(nodes[1].attribute(FusedActivation.attribute) != nil, "add1's Relu comes along")
        #expect(nodes[3].inputs == ["y1", "w3", "", "shift"])
        var input = TestModels.randomFloats(2 * 4 * 9 * 21, seed: 38, scale: 2)
        input[17] = .nan
        let x = Tensor(shape: [2, 4, 9, 21], scalars: input)
        let want = try Session(model: model).run(["x": x])
        let got = try fused.run(["x": x])
        for name in ["y1", "q", "z", "zd"] {
            let a = try #require(want[name]).scalars(as: Float.self)
            let b = try #require(got[name]).scalars(as: Float.self)
            #expect(a.count == b.count && zip(a, b).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(name)")
        }
        #expect(try #require(got["y1"]).scalars(as: Float.self).allSatisfy { $0 >= 0 || $0.isNaN })
    }

    /// The residual of a fused Add on every convolution path: added by the tiles' stores (1×1
    /// over a large image read in place, 1×1 over packed panels, im2col rows of a strided 3×3)
    /// or over the finished output (implicit GEMM, one position): equal to Conv then Add bit for
    /// bit, with the Relu after the sum. The suite runs serialized: this test sets the thread
    /// count, which would otherwise change under its other cases.
    @Test(arguments: [
        // (filters, channels, kernel, stride, height, width)
        (14, 300, 1, 1, 30, 37), // 1×1, few filters over a large image: B in place
        (20, 130, 1, 1, 41, 39), // 1×1, packed panels
        (30, 64, 1, 1, 7, 7),    // 1×1, few panels: in place but the partial last one (filter blocks over threads)
        (70, 9, 1, 1, 1, 1),     // one position: matrix-vector products
        (13, 32, 3, 2, 17, 19),  // 3×3 stride 2 over 32 channels: im2col rows
        (13, 5, 3, 1, 9, 21),    // 3×3 stride 1: implicit GEMM (AVX-512)
    ] as [(Int, Int, Int, Int, Int, Int)])
    func convAddMatchesOnEveryPath(filters: Int, channels: Int, kernel: Int, stride: Int, height: Int, width: Int) throws {
        let pad = kernel / 2
        let (outH, outW) = ((height + 2 * pad - kernel) / stride + 1, (width + 2 * pad - kernel) / stride + 1)
        let graph = Graph(
            name: "residual-paths",
            nodes: [
                Node(opType: "Conv", inputs: ["x", "w", "b"], outputs: ["c"], name: "conv",
                     attributes: [Attribute(name: "pads", value: .ints(Array(repeating: Int64(pad), count: 4))),
                                  Attribute(name: "strides", value: .ints([Int64(stride), Int64(stride)]))]),
                Node(opType: "Add", inputs: ["r", "c"], outputs: ["s"], name: "add"),
                Node(opType: "Relu", inputs: ["s"], outputs: ["y"], name: "relu"),
            ],
            inputs: [.tensor("x", .float32, [.value(2), .value(channels), .value(height), .value(width)]),
                     .tensor("r", .float32, [.value(2), .value(filters), .value(outH), .value(outW)])],
            outputs: [.tensor("y", .float32, nil)],
            initializers: [
                GraphTensor(name: "w", tensor: Tensor(shape: [filters, channels, kernel, kernel],
                                                      scalars: TestModels.randomFloats(filters * channels * kernel * kernel, seed: 51, scale: 0.3))),
                GraphTensor(name: "b", tensor: Tensor(shape: [filters], scalars: TestModels.randomFloats(filters, seed: 52, scale: 0.5))),
            ])
        let model = Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 13)])
        let x = Tensor(shape: [2, channels, height, width], scalars: TestModels.randomFloats(2 * channels * height * width, seed: 53, scale: 2))
        let r = Tensor(shape: [2, filters, outH, outW], scalars: TestModels.randomFloats(2 * filters * outH * outW, seed: 54, scale: 2))
        // Two threads only at the CPU's own level (a forced level holds for the calling thread).
        let native = Int(octet_kernels_level())
        try forEachKernelLevel { level in
            let want = try #require(try Session(model: model).run(["x": x, "r": r])["y"]).scalars(as: Float.self)
            for threads in level == native ? [1, 2] : [1] {
                let saved = ThreadPool.threads
                ThreadPool.threads = threads
                defer { ThreadPool.threads = saved }
                let fused = try Session(model: model, options: .init(fuse: true))
                #expect(fused.model.graph.nodes.map(\.opType) == ["Conv"])
                let got = try #require(try fused.run(["x": x, "r": r])["y"]).scalars(as: Float.self)
                // Bit for bit at the CPU's own level; a forced level holds for this thread only,
                // so another suite's thread count can mix levels (rounding differences only).
                let differing = zip(got, want).filter { level == native ? $0 != $1 : abs($0 - $1) > 1e-5 * Swift.max(1, abs($0)) }.count
                #expect(got.count == want.count && differing == 0, "level \(level), \(threads) thread(s): \(differing) of \(want.count) differ")
            }
        }
    }
}
