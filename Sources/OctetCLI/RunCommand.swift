import ArgumentParser
import Foundation
import OctetGraph
import OctetData
import OctetQuant
import OctetRuntime

/// `octet run`: run a model in FP32 on Octet's CPU engine.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an ONNX model on Octet's CPU engine and print or save its outputs.",
        discussion: """
            Inputs are matched to the model's inputs by name: the keys of an .npz, the file name \
            of a .npy (<input>.npy), the name stored in each input_N.pb of an ONNX \
            test_data_set folder, or the keys of each feed dict in Polygraphy JSON files (one run \
            per feed dict; saved outputs are then named run<i>/<output>). With --outputs all \
            every intermediate value is returned, like Polygraphy's --onnx-outputs mark all.
            """
    )

    @Argument(help: "The ONNX model to run.")
    var model: String

    @Option(name: .long, parsing: .upToNextOption, help: "Input data: .npz, <input>.npy files, an ONNX test_data_set folder, or Polygraphy JSON files.")
    var loadInputs: [String] = []

    @Option(help: "Save the outputs to this .npz file.")
    var saveOutputs: String?

    @Option(help: "Which values to return: 'all', or names separated by commas (default: the model's outputs).")
    var outputs: String?

    @Option(help: "Threads for kernels (default: all cores).")
    var threads: Int?

    @Flag(help: "Print the peak memory of intermediate tensors on stderr.")
    var verbose = false

    @Flag(help: "Print the kernel time per operator type over the timed runs on stderr.")
    var profile = false

    @Option(help: "Untimed runs before the timed ones.")
    var warmUp = 0

    @Option(help: "Timed runs; with more than one, the mean, median and fastest run time are printed on stderr.")
    var iterations = 1

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1.") }
        if warmUp < 0 || iterations < 1 { throw ValidationError("--warm-up must be 0 or more and --iterations at least 1.") }
        if let saveOutputs, !saveOutputs.hasSuffix(".npz") { throw ValidationError("--save-outputs must name an .npz file.") }
    }

    func run() throws {
        if let threads { ThreadPool.threads = threads }
        let url = URL(fileURLWithPath: model)
        // The loaded model is not kept past this: the session releases the weights it packs, and
        // a second reference would hold them in memory.
        let (session, feedSets) = try { () throws -> (Session, [[String: Tensor]]) in
            let loaded = try Model.load(contentsOf: url)
            // Only the graph outputs: BatchNorm and Relu may be fused into the Convs.
            let session = try Session(model: loaded, options: .init(fuse: outputs == nil))
            return (session, try Self.feedSets(loadInputs, model: loaded))
        }()
        let graphOutputs = session.model.graph.outputs.map(\.name)
        var wanted: [String]?
        if outputs == "all" {
            wanted = graphOutputs + session.allValueNames.filter { !graphOutputs.contains($0) }
        } else if let outputs {
            wanted = outputs.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        }
        if let destination = saveOutputs.map({ URL(fileURLWithPath: $0) }) {
            try OutputPath.check(destination, notAnyOf: [url] + loadInputs.map { URL(fileURLWithPath: $0) })
        }
        let order = wanted ?? graphOutputs
        var times: [Double] = []
        var runs: [[String: Tensor]] = []
        for feeds in feedSets {
            for _ in 0..<warmUp { _ = try session.run(feeds, outputs: order) }
            if profile && session.profile == nil { session.setProfiling(true) }
            var results: [String: Tensor] = [:]
            for _ in 0..<iterations {
                let start = DispatchTime.now().uptimeNanoseconds
                results = try session.run(feeds, outputs: order)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            runs.append(results)
        }
        if iterations > 1 {
            let mean = times.reduce(0, +) / Double(times.count)
            let sorted = times.sorted()
            let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            FileHandle.standardError.write(Data(String(format: "%d runs: mean %.3f ms, median %.3f ms, fastest %.3f ms, peak RSS %.0f MiB\n",
                                                       times.count, mean, median, sorted.first ?? 0,
                                                       Double(ProcessMemory.peakResidentBytes()) / 1_048_576).utf8))
        }
        for (index, results) in runs.enumerated() {
            if runs.count > 1 { print("run \(index):") }
            for name in order {
                guard let tensor = results[name] else { continue }
                print((runs.count > 1 ? "  " : "") + Self.describe(name: name, tensor))
            }
        }
        if let profile = session.profile {
            FileHandle.standardError.write(Data(Self.profileTable(profile, runs: times.count).utf8))
        }
        if verbose {
            FileHandle.standardError.write(Data("peak intermediate tensor memory: \(formatBytes(session.peakBytes))\n".utf8))
        }
        if let saveOutputs {
            var arrays: [(key: String, tensor: Tensor)] = []
            for (index, results) in runs.enumerated() {
                for name in order {
                    guard let tensor = results[name] else { continue }
                    arrays += try Self.savableArrays(runs.count > 1 ? "run\(index)/\(name)" : name, tensor)
                }
            }
            try NPZArchive.write(arrays, to: URL(fileURLWithPath: saveOutputs))
        }
    }

    /// The arrays saved for one value: a tensor under its name; a sequence's elements as
    /// `name[0]`, `name[1]`, …; nothing for an optional without a value.
    static func savableArrays(_ key: String, _ value: Tensor) throws -> [(key: String, tensor: Tensor)] {
        if value.isNoValue { return [] }
        if let elements = value.sequenceElements {
            return try elements.enumerated().flatMap { index, element in try savableArrays("\(key)[\(index)]", element) }
        }
        return [(key, try savable(value))]
    }

    /// The tensor in a type NumPy can store (bfloat16, float8 and float4 as float32; 4- and 2-bit
    /// integers as int8/uint8).
    static func savable(_ tensor: Tensor) throws -> Tensor {
        switch tensor.dtype {
        case .bfloat16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float4e2m1: try tensor.converted(to: .float32)
        case .int4, .int2: try tensor.converted(to: .int8)
        case .uint4, .uint2: try tensor.converted(to: .uint8)
        default: tensor
        }
    }

    /// The feeds to run: one per feed dict of Polygraphy JSON files, or one combining the arrays
    /// of .npz / .npy / .pb files and test_data_set folders; all checked against the model like
    /// calibration data (names, lossless widening, ranks and fixed dimensions, batch axis).
    static func feedSets(_ paths: [String], model: Model) throws -> [[String: Tensor]] {
        var validator = FeedValidator(model: model, allowNonfinite: true)
        var samples: [RawSample] = []
        let json = paths.filter { $0.lowercased().hasSuffix(".json") }
        if !json.isEmpty {
            guard json.count == paths.count else {
                throw CLIError.message("give either Polygraphy JSON files or array files (.npz, .npy, .pb, test_data_set folders), not both")
            }
            try CalibrationData(paths: json).forEach { sample in
                samples.append(sample)
                return true
            }
        } else {
            var given: [String: Tensor] = [:]
            var files: [String: String] = [:]
            for path in paths {
                for (name, tensor, file) in try InputFiles.read(URL(fileURLWithPath: path)) {
                    if given[name] != nil { throw CLIError.message("\(file): input '\(name)' is given twice") }
                    given[name] = tensor
                    files[name] = file
                }
            }
            samples = [RawSample(values: given, files: files, index: 0, origin: paths)]
        }
        let checked = samples.map { validator.check($0) }
        validator.warnings.forEach(Console.warning)
        let feeds = checked.compactMap { $0 }
        guard feeds.count == checked.count, !feeds.isEmpty else {
            throw DataError.invalid(problems: feeds.isEmpty && validator.problems.isEmpty ? ["the input files hold no feeds"] : validator.problems)
        }
        return feeds
    }

    /// One line per output: name, dtype, shape and value range.
    static func describe(name: String, _ tensor: Tensor) -> String {
        if tensor.isNoValue { return "\(name): optional without a value" }
        if let elements = tensor.sequenceElements {
            let shapes = elements.prefix(8).map { $0.sequenceElements == nil ? "\($0.shape)" : "seq(\($0.sequenceElements?.count ?? 0))" }
            return "\(name): sequence of \(elements.count) \(tensor.dtype) value\(elements.count == 1 ? "" : "s")"
                + (shapes.isEmpty ? "" : " " + shapes.joined(separator: ", ") + (elements.count > 8 ? ", …" : ""))
        }
        var line = "\(name): \(tensor.dtype) \(tensor.shape)"
        if tensor.dtype == .string {
            let shown = tensor.strings.prefix(4).map { "\"\(String(decoding: $0.prefix(40), as: UTF8.self))\"" }
            return line + (shown.isEmpty ? "" : " [" + shown.joined(separator: ", ") + (tensor.strings.count > 4 ? ", …]" : "]"))
        }
        if let values = try? tensor.doubles(), !values.isEmpty {
            let finite = values.filter(\.isFinite)
            if let low = finite.min(), let high = finite.max() {
                let mean = finite.reduce(0, +) / Double(finite.count)
                line += String(format: " min %.6g max %.6g mean %.6g", low, high, mean)
            }
            let nonFinite = values.count - finite.count
            if nonFinite > 0 { line += " (\(nonFinite) non-finite)" }
        }
        return line
    }
}

/// Reads input tensors by name from the file layouts `run` accepts.
enum InputFiles {
    /// The named arrays in `url`, each with the file it came from (a folder's own input_N.pb).
    static func read(_ url: URL) throws -> [(name: String, tensor: Tensor, file: String)] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw CLIError.message("\(url.path): no such file or folder")
        }
        if isFolder.boolValue {
            let files = try FileManager.default.contentsOfDirectory(atPath: url.path)
                .filter { $0.hasPrefix("input_") && $0.hasSuffix(".pb") }
                .sorted { Int($0.dropFirst(6).dropLast(3)) ?? 0 < Int($1.dropFirst(6).dropLast(3)) ?? 0 }
            guard !files.isEmpty else { throw CLIError.message("\(url.path): no input_N.pb files in this folder") }
            return try files.map { file in
                let path = url.appendingPathComponent(file)
                let (name, tensor) = try TensorProtoFile.read(path)
                guard !name.isEmpty else { throw CLIError.message("\(path.path): the tensor has no name, so it cannot be matched to an input") }
                return (name, tensor, path.path)
            }
        }
        switch url.pathExtension {
        case "npz": return try NPZArchive.readAll(url).map { ($0.key, $0.tensor, url.path) }
        case "npy": return [(url.deletingPathExtension().lastPathComponent, try NPYFile.read(url), url.path)]
        case "pb":
            let (name, tensor) = try TensorProtoFile.read(url)
            guard !name.isEmpty else { throw CLIError.message("\(url.path): the tensor has no name, so it cannot be matched to an input") }
            return [(name, tensor, url.path)]
        default: throw CLIError.message("\(url.path): expected an .npz, .npy or .pb file, or a test_data_set folder")
        }
    }
}

extension RunCommand {
    /// The operator profile as a table: per operator type, milliseconds per run, share and calls
    /// per run, the slowest first.
    static func profileTable(_ profile: [String: Session.OperatorTime], runs: Int) -> String {
        let total = profile.values.reduce(0) { $0 + $1.seconds }
        let perRun = Double(max(runs, 1))
        func padded(_ name: String) -> String { name.count >= 24 ? name : name + String(repeating: " ", count: 24 - name.count) }
        var text = padded("operator") + "   ms per run   share  calls/run\n"
        for (name, time) in profile.sorted(by: { $0.value.seconds > $1.value.seconds }) {
            text += padded(name) + String(format: " %12.3f %6.1f%% %10.1f\n", time.seconds * 1000 / perRun,
                                          total > 0 ? 100 * time.seconds / total : 0, Double(time.calls) / perRun)
        }
        text += padded("all kernels") + String(format: " %12.3f\n", total * 1000 / perRun)
        return text
    }
}
