import COctetKernels
import OctetGraph
import Testing
import _OctetTestSupport
@testable import OctetRuntime

/// 2-D Conv through each of its paths — implicit GEMM over a padded image (panels of positions
/// over one to four output rows; strided convolutions over phase planes), im2col rows, 1×1 (strided
/// ones through gathered positions), depthwise (strides 1, 2 and 3) — against a
/// double-precision direct convolution, with bias, asymmetric padding and dilation, and with a
/// fused Relu, on every kernel level the CPU has.
struct ConvPathTests {
    static func model(filters: Int, channels: Int, kernel: Int, pads: [Int], dilations: [Int], strides: [Int], group: Int, relu: Bool) -> Model {
        var nodes = [Node(opType: "Conv", inputs: ["x", "w", "b"], outputs: [relu ? "c" : "y"], name: "conv",
                          attributes: [Attribute(name: "pads", value: .ints(pads.map(Int64.init))),
                                       Attribute(name: "dilations", value: .ints(dilations.map(Int64.init))),
                                       Attribute(name: "strides", value: .ints(strides.map(Int64.init))),
                                       Attribute(name: "group", value: .int(Int64(group)))])]
        if relu { nodes.append(Node(opType: "Relu", inputs: ["c"], outputs: ["y"], name: "relu")) }
        let graph = Graph(
            name: "conv", nodes: nodes,
            inputs: [.tensor("x", .float32, [.param("n"), .value(channels), .param("h"), .param("w")])],
            outputs: [.tensor("y", .float32, nil)],
            initializers: [
                GraphTensor(name: "w", tensor: Tensor(shape: [filters, channels / group, kernel, kernel],
                                                      scalars: TestModels.randomFloats(filters * channels / group * kernel * kernel, seed: 41, scale: 0.5))),
                GraphTensor(name: "b", tensor: Tensor(shape: [filters], scalars: TestModels.randomFloats(filters, seed: 42, scale: 0.5))),
            ])
        return Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: 17)])
    }

    @Test(arguments: [
        // (filters, channels, kernel, pads [top, left, bottom, right], dilations, strides, group, height, width)
        (14, 5, 3, [1, 2, 0, 1], [1, 1], [1, 1], 1, 9, 32),   // implicit (AVX-512), two row blocks
        (14, 5, 3, [2, 2, 2, 2], [2, 2], [1, 1], 1, 7, 48),   // implicit, dilated
        (25, 3, 5, [2, 2, 2, 2], [1, 1], [1, 1], 1, 6, 14),   // implicit: 14 of 16 lanes
        (14, 40, 3, [1, 1, 1, 1], [1, 1], [1, 1], 1, 4, 110), // implicit, few filters over wide rows: channel chunks 36 + 4
        (10, 6, 3, [1, 1, 1, 1], [1, 1], [1, 1], 1, 10, 14),  // implicit, panels over two output rows (14 wide)
        (12, 7, 3, [1, 1, 1, 1], [1, 1], [1, 1], 1, 13, 10),  // implicit, up to three rows per panel (10 wide)
        (13, 4, 3, [1, 0, 1, 0], [1, 1], [1, 1], 1, 22, 8),   // implicit, up to four rows per panel (6 wide)
        (11, 4, 3, [1, 0, 2, 1], [1, 1], [2, 2], 1, 25, 27),  // implicit over phase planes: stride 2, asymmetric pads
        (9, 3, 5, [2, 2, 2, 2], [2, 2], [2, 2], 1, 30, 31),   // phase planes: stride 2 and dilation 2
        (8, 3, 7, [3, 3, 3, 3], [1, 1], [2, 2], 1, 40, 40),   // phase planes: a 7 × 7 stride-2 stem
        (7, 2, 3, [1, 1, 1, 1], [1, 1], [3, 3], 1, 40, 40),   // phase planes: stride 3
        (14, 5, 3, [1, 1, 1, 1], [1, 1], [2, 2], 1, 9, 32),   // stride 2: phase planes (im2col below AVX-512)
        (14, 5, 3, [1, 1, 1, 1], [1, 1], [1, 1], 1, 5, 21),   // im2col rows (21 of 32 lanes)
        (30, 5, 1, [0, 0, 0, 0], [1, 1], [1, 1], 1, 3, 37),   // 1×1
        (14, 300, 1, [0, 0, 0, 0], [1, 1], [1, 1], 1, 30, 37), // 1×1, few filters over a large image: B in place, panel pairs, a partial last panel
        (20, 130, 1, [0, 0, 0, 0], [1, 1], [1, 1], 1, 41, 39), // 1×1, packed panels in two chunks (the last partial)
        (24, 40, 1, [0, 0, 0, 0], [1, 1], [2, 2], 1, 29, 31), // strided 1×1 (a downsampling shortcut): positions gathered, odd sizes
        (9, 7, 1, [0, 0, 0, 0], [1, 1], [3, 2], 1, 10, 9),    // strided 1×1, unequal strides
        (9, 7, 1, [1, 0, 0, 1], [1, 1], [2, 2], 1, 10, 9),    // strided 1×1 with padding: the general path
        (6, 6, 3, [1, 1, 1, 1], [1, 1], [1, 1], 6, 5, 77),    // depthwise: four-block groups and a tail
        (6, 6, 5, [2, 1, 2, 3], [1, 1], [2, 2], 6, 9, 70),    // depthwise stride 2, asymmetric pads
        (6, 6, 3, [2, 2, 2, 2], [2, 2], [1, 1], 6, 4, 19),    // depthwise dilated
        (6, 6, 3, [1, 1, 1, 1], [1, 1], [3, 3], 6, 8, 40),    // depthwise stride 3 (generic loop)
        (37, 37, 5, [2, 2, 2, 2], [1, 1], [1, 1], 37, 7, 7),  // depthwise, 16 lanes: two full blocks and 5 channels
        (20, 20, 3, [1, 0, 2, 1], [1, 1], [2, 2], 20, 11, 13), // 16 lanes, stride 2, asymmetric pads
        (17, 17, 3, [2, 2, 2, 2], [2, 2], [1, 1], 17, 9, 6),  // 16 lanes, dilated
        (3, 3, 3, [1, 1, 1, 1], [1, 1], [1, 1], 3, 150, 120), // 16 lanes, several strips of rows
        (12, 6, 3, [1, 1, 1, 1], [1, 1], [1, 1], 6, 6, 9),    // depthwise with two filters per channel
    ] as [(Int, Int, Int, [Int], [Int], [Int], Int, Int, Int)])
    func matchesADirectConvolution(filters: Int, channels: Int, kernel: Int, pads: [Int], dilations: [Int], strides: [Int],
                                   group: Int, height: Int, width: Int) throws {
        // Each kernel level this CPU has (portable, AVX2, AVX-512), without and with a fused Relu.
        try forEachKernelLevel { level in
            for relu in [false, true] {
                try Self.check(filters: filters, channels: channels, kernel: kernel, pads: pads, dilations: dilations, strides: strides,
                               group: group, height: height, width: width, level: level, relu: relu)
            }
        }
    }

    /// The paths that only run on several threads: 1×1 convolutions of few positions and many
    /// filters split by filter blocks (a partial last panel among them), of one position
    /// (matrix-vector products over threads), and of many positions (chunks over threads).
    @Test(arguments: [
        // (filters, channels, height, width)
        (62, 200, 7, 7),  // 4 panels (the last one column), 6 blocks of filters
        (70, 9, 1, 1),    // one position
        (200, 700, 1, 1), // one position, filters large enough to split
        (14, 300, 30, 37), // few filters over a large image: pairs of panels in place over the threads
        (20, 130, 41, 39), // packed panels: four chunks over the threads
    ] as [(Int, Int, Int, Int)])
    func pointwiseOnTwoThreads(filters: Int, channels: Int, height: Int, width: Int) throws {
        let saved = ThreadPool.threads
        ThreadPool.threads = 2
        defer { ThreadPool.threads = saved }
        for relu in [false, true] {
            try Self.check(filters: filters, channels: channels, kernel: 1, pads: [0, 0, 0, 0], dilations: [1, 1], strides: [1, 1],
                           group: 1, height: height, width: width, level: Int(octet_kernels_level()), relu: relu)
        }
    }

    /// A batch that divides evenly over the threads runs whole images per thread: every image of
    /// a batch of 4 on two threads equals that image run alone, bit for bit, on each path (1×1
    /// packed, in place, few panels, one position; implicit GEMM; im2col rows).
    @Test(arguments: [
        // (filters, channels, kernel, stride, height, width)
        (20, 130, 1, 1, 41, 39),
        (14, 300, 1, 1, 30, 37),
        (62, 200, 1, 1, 7, 7),
        (70, 9, 1, 1, 1, 1),
        (10, 6, 3, 1, 10, 14),
        (13, 32, 3, 2, 17, 19),
    ] as [(Int, Int, Int, Int, Int, Int)])
    func batchOverThreadsEqualsSingleImages(filters: Int, channels: Int, kernel: Int, stride: Int, height: Int, width: Int) throws {
        let saved = ThreadPool.threads
        ThreadPool.threads = 2
        defer { ThreadPool.threads = saved }
        let pad = kernel / 2
        let model = Self.model(filters: filters, channels: channels, kernel: kernel, pads: [pad, pad, pad, pad], dilations: [1, 1],
                               strides: [stride, stride], group: 1, relu: true)
        let session = try Session(model: model, options: .init(fuse: true))
        let imageCount = channels * height * width
        let values = TestModels.randomFloats(4 * imageCount, seed: 61, scale: 2)
        let batch = try #require(try session.run(["x": Tensor(shape: [4, channels, height, width], scalars: values)])["y"])
        let all = batch.scalars(as: Float.self)
        let outputCount = all.count / 4
        for n in 0..<4 {
            let image = Tensor(shape: [1, channels, height, width], scalars: Array(values[(n * imageCount)..<((n + 1) * imageCount)]))
            let alone = try #require(try session.run(["x": image])["y"]).scalars(as: Float.self)
            #expect(alone == Array(all[(n * outputCount)..<((n + 1) * outputCount)]), "image \(n)")
        }
    }

    static func check(filters: Int, channels: Int, kernel: Int, pads: [Int], dilations: [Int], strides: [Int],
                      group: Int, height: Int, width: Int, level: Int, relu: Bool) throws {
        do {
            let model = Self.model(filters: filters, channels: channels, kernel: kernel, pads: pads, dilations: dilations,
                                   strides: strides, group: group, relu: relu)
            let x = Tensor(shape: [2, channels, height, width], scalars: TestModels.randomFloats(2 * channels * height * width, seed: 43, scale: 2))
            let got = try #require(try Session(model: model, options: .init(fuse: true)).run(["x": x])["y"])
            let outH = (height + pads[0] + pads[2] - dilations[0] * (kernel - 1) - 1) / strides[0] + 1
            let outW = (width + pads[1] + pads[3] - dilations[1] * (kernel - 1) - 1) / strides[1] + 1
            #expect(got.shape == [2, filters, outH, outW])
            let groupChannels = channels / group
            let (input, weights) = (x.scalars(as: Float.self), TestModels.randomFloats(filters * groupChannels * kernel * kernel, seed: 41, scale: 0.5))
            let bias = TestModels.randomFloats(filters, seed: 42, scale: 0.5)
            let values = got.scalars(as: Float.self)
            var worst = 0.0
            for n in 0..<2 {
                for f in 0..<filters {
                    for oh in 0..<outH {
                        for ow in 0..<outW {
                            var sum = Double(bias[f])
                            for c in 0..<groupChannels {
                                let channel = f / (filters / group) * groupChannels + c
                                for ki in 0..<kernel {
                                    for kj in 0..<kernel {
                                        let ih = oh * strides[0] - pads[0] + ki * dilations[0]
                                        let iw = ow * strides[1] - pads[1] + kj * dilations[1]
                                        guard ih >= 0, ih < height, iw >= 0, iw < width else { continue }
                                        sum += Double(weights[((f * groupChannels + c) * kernel + ki) * kernel + kj])
                                            * Double(input[((n * channels + channel) * height + ih) * width + iw])
                                    }
                                }
                            }
                            if relu { sum = max(0, sum) }
                            worst = max(worst, abs(Double(values[((n * filters + f) * outH + oh) * outW + ow]) - sum))
                        }
                    }
                }
            }
            #expect(worst <= 1e-4, "largest difference \(worst) (level \(level), relu: \(relu))")
        }
    }
}
