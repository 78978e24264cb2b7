import Foundation
import OctetData
import OctetGraph
import OctetQuant
import OctetRuntime
import OctetTensor

/// One fuzz target: bytes in, any result or thrown error accepted; a trap, a crash, a hang or
/// an unbounded allocation is the finding.
enum FuzzTargets {
    static let all: [String: @Sendable (Data) -> Void] = [
        "onnx": onnx, "npy": npy, "npz": npz, "polygraphy-json": polygraphyJSON,
        "trt-cache": trtCache, "stats": stats, "exec": exec,
    ]

    /// A scratch file per process for readers that take paths.
    static let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("octet-fuzz-\(getpid())")

    static func writeScratch(_ data: Data, suffix: String) -> URL? {
        let url = scratch.appendingPathExtension(suffix)
        return (try? data.write(to: url)) == nil ? nil : url
    }

    /// The ONNX loader and validator.
    static func onnx(_ data: Data) {
        _ = try? Model.decode(data, file: "fuzz.onnx", validate: true)
    }

    /// The `.npy` header parser and decoder.
    static func npy(_ data: Data) {
        if let tensor = try? NPYFile.decode(data, file: "fuzz.npy") { blackHole(tensor.byteCount) }
    }

    /// The `.npz` / ZIP reader: every member decoded.
    static func npz(_ data: Data) {
        guard let url = writeScratch(data, suffix: "npz"), let archive = try? NPZArchive(url: url) else { return }
        for key in archive.keys {
            _ = try? archive.header(key)
            if let tensor = try? archive.tensor(key) { blackHole(tensor.byteCount) }
            _ = try? archive.stackedArray(key).rows(0..<1)
        }
    }

    /// Polygraphy JSON feeds through the calibration data reader.
    static func polygraphyJSON(_ data: Data) {
        guard let url = writeScratch(data, suffix: "json"), let source = try? CalibrationData(paths: [url.path]) else { return }
        try? source.forEach { sample in
            blackHole(sample.values.count)
            return sample.index < 64
        }
    }

    /// The TensorRT calibration cache parser.
    static func trtCache(_ data: Data) {
        _ = try? CalibrationCache.parse(String(decoding: data, as: UTF8.self), file: "fuzz.calib")
    }

    /// The stats file reader.
    static func stats(_ data: Data) {
        _ = try? StatsFile.decode(data, file: "fuzz.stats")
    }

    /// Small mutated graphs planned and run on zero inputs of their declared shapes.
    static func exec(_ data: Data) {
        guard let model = try? Model.decode(data, file: "fuzz.onnx", validate: true), model.graph.nodes.count <= 64,
              let session = try? Session(model: model)
        else { return }
        var feeds: [String: Tensor] = [:]
        let weights = Set(model.graph.initializers.map(\.name))
        for input in model.graph.inputs where !weights.contains(input.name) {
            guard let dims = input.type.shape, let dtype = input.type.dtype, dtype != .string else { return }
            let shape = dims.map { $0.fixedSize ?? 1 }
            guard shape.allSatisfy({ $0 >= 0 && $0 <= 64 }), (Checked.elementCount(shape) ?? .max) <= 4096 else { return }
            feeds[input.name] = Tensor(zeros: dtype, shape: shape)
        }
        if let outputs = try? session.run(feeds) { blackHole(outputs.count) }
    }

    @inline(never) static func blackHole(_ value: Int) {
        if value == Int.min { print("unreachable") }
    }
}
