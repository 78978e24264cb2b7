import ArgumentParser
import Foundation
import OctetData
import OctetGraph
import OctetQuant
import OctetRuntime

/// `octet demo`: the main job end to end on the bundled example — a trained BERT-style
/// classifier with three int64 inputs, real labelled data — checked, calibrated, converted to a
/// Q/DQ model and a TensorRT cache, and scored against its labels in FP32 and INT8.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Quantize the bundled example end to end and compare its task accuracy in FP32 and INT8.",
        discussion: """
            The example (Examples/stdlib-topics, built by scripts/make-demo) is a small BERT-style \
            encoder with three int64 inputs (input_ids, attention_mask, token_type_ids; padding \
            masked with -inf), trained to tell which part of the Python standard library a \
            documented function or class comes from, from its name and docstring. The demo \
            checks the calibration data against the inputs by name, runs 'octet convert --int8' \
            (entropy calibration, TensorRT placement, TensorRT cache) and scores both models on \
            the held-out labelled docstrings. It exits with 1 when INT8 loses more than \
            --max-accuracy-drop points.
            """
    )

    /// The bundled files the demo reads.
    static let files = ["model.onnx", "calib.npz", "eval.npz", "eval-labels.npy", "classes.txt", "vocab.txt"]

    @Option(help: "The example's folder (default: Examples/stdlib-topics under the current directory or above the octet executable).")
    var exampleDir: String?

    @Option(name: [.short, .long], help: "Folder for the files the demo writes (created if missing).")
    var outputDir = "octet-demo"

    @Option(help: "The largest drop in task accuracy, in percentage points, that counts as keeping accuracy.")
    var maxAccuracyDrop: Double = 1.0

    @Option(help: "Threads for the engine (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1.") }
        if !(0...100).contains(maxAccuracyDrop) { throw ValidationError("--max-accuracy-drop is in percentage points, from 0 to 100.") }
    }

    func run() throws {
        let example = try Self.locateExample(exampleDir)
        let file = { (name: String) in example.appendingPathComponent(name).path }
        let output = URL(fileURLWithPath: outputDir)
        do { try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true) } catch {
            throw CLIError.message("\(outputDir): cannot create the demo's output folder (\(error.localizedDescription))")
        }
        let written = { (name: String) in output.appendingPathComponent(name).path }
        let classes = try Self.lines(of: file("classes.txt"))
        let model = try Model.load(contentsOf: URL(fileURLWithPath: file("model.onnx")))

        print("""
            Octet demo: INT8 post-training quantization of a model with three inputs.

            The model (\(file("model.onnx"))) is a 2-layer BERT-style encoder trained to tell
            which part of the Python standard library a documented function or class belongs to, from its
            name (segment 0) and its docstring (segment 1). \(classes.count) topics: \(classes.joined(separator: ", ")).
            The data are real docstrings from the standard library's source; the held-out ones come from
            source files the model never saw in training.

            """)
        print("Step 1/4  The model's inputs and outputs")
        for input in model.graph.inputs { print("  input   \(input.name)  \(input.type.summary)") }
        for output in model.graph.outputs { print("  output  \(output.name)  \(output.type.summary)") }

        print("\nStep 2/4  Check the calibration data against the inputs, by name")
        let calibration = try CalibrationData(paths: [file("calib.npz")])
        var validator = FeedValidator(model: model, allowNonfinite: false, recordStatistics: false)
        var samples = 0
        try calibration.forEach { sample in
            samples += 1
            _ = validator.check(sample)
            return true
        }
        if !validator.problems.isEmpty { throw DataError.invalid(problems: validator.problems) }
        print("  \(file("calib.npz")): \(samples) samples, every input matched by name and within the model's types and shapes")
        print("  (the same check as: octet data check \(file("model.onnx")) --calibration-data \(file("calib.npz")))")

        let arguments = [file("model.onnx"), "--int8", "--calibration-data", file("calib.npz"), "--force-recalibrate",
                         "--calibration-cache", written("model.calib"), "-o", written("model.int8.onnx"),
                         "--eval-data", file("eval.npz"), "--eval-labels", file("eval-labels.npy"),
                         "--max-accuracy-drop", "\(maxAccuracyDrop)", "--report", written("report.json"), "--report", written("report.html")]
            + (threads.map { ["--threads", "\($0)"] } ?? [])
        print("\nStep 3/4  Calibrate, place Q/DQ and score FP32 vs INT8:")
        print("  octet convert " + arguments.joined(separator: " ") + "\n")
        let convert = try ConvertCommand.parse(arguments)
        let start = DispatchTime.now().uptimeNanoseconds
        try convert.run()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9

        let report = try JSONDecoder().decode(Int8Conversion.Report.self, from: Data(contentsOf: URL(fileURLWithPath: written("report.json"))))
        guard let evaluation = report.evaluation, let task = evaluation.taskAccuracy else {
            throw CLIError.message("\(written("report.json")): the conversion wrote no task accuracy (please report this)")
        }
        print("\nStep 4/4  What INT8 costs on \(task.rows) held-out labelled docstrings")
        try showExamples(model: model, quantized: written("model.int8.onnx"), example: example, classes: classes)
        print(String(format: "  task accuracy  FP32 %.2f %%   INT8 %.2f %%   (%@%.2f points; allowed: %g)", task.fp32 * 100, task.int8 * 100,
                     task.dropPoints > 0 ? "−" : "+", abs(task.dropPoints), maxAccuracyDrop))
        print(String(format: "  quantized %d of %d candidate nodes in %.1f s", report.nodes.filter(\.quantized).count, report.nodes.count, seconds))
        print("\nFiles written:")
        let descriptions = [
            "model.int8.onnx": "the Q/DQ model, for TensorRT (trtexec --onnx=… --int8) or ONNX Runtime",
            "model.calib": "the TensorRT calibration cache, from the same run",
            "model.calib.json": "what the cache was made from (model hash, method, data fingerprint)",
            "report.json": "placement decisions, per-tensor ranges and the accuracy above",
            "report.html": "the same as a page: per-node SQNR, |x| histograms with each method's threshold",
        ]
        for name in ["model.int8.onnx", "model.calib", "model.calib.json", "report.json", "report.html"] {
            print("  \(written(name))  \(descriptions[name] ?? "")")
        }
        guard evaluation.keptAccuracy else {
            throw CLIError.message(String(format: "INT8 lost %.2f points of task accuracy, more than the %g allowed", task.dropPoints, maxAccuracyDrop))
        }
        print("\nINT8 kept accuracy. To quantize your own model: octet convert MODEL.onnx --int8 --calibration-data DATA -o MODEL.int8.onnx")
    }

    /// Three held-out samples as text, with the true topic and both models' answers.
    func showExamples(model: Model, quantized: String, example: URL, classes: [String]) throws {
        let vocabulary = try Self.lines(of: example.appendingPathComponent("vocab.txt").path)
        let labels = try Int8Conversion.readLabels(example.appendingPathComponent("eval-labels.npy").path)
        let fp32 = try Session(model: model)
        let int8 = try Session(model: try Model.load(contentsOf: URL(fileURLWithPath: quantized)))
        let data = try CalibrationData(paths: [example.appendingPathComponent("eval.npz").path])
        var validator = FeedValidator(model: model, allowNonfinite: false, recordStatistics: false)
        let shown = Set([0, labels.count / 3, 2 * labels.count / 3])
        try data.forEach { sample in
            guard shown.contains(sample.index), let feeds = validator.check(sample), sample.index < labels.count,
                  let ids = try feeds["input_ids"]?.doubles() else { return sample.index < (shown.max() ?? 0) }
            // [CLS] name [SEP] docstring [SEP] padding; ids 0–3 are the special tokens.
            let tokens = ids.map { Int($0) }
            let separator = tokens.firstIndex(of: 2) ?? tokens.count
            let words = { (range: ArraySlice<Int>) in range.filter { $0 > 3 && $0 < vocabulary.count }.map { vocabulary[$0] } }
            let name = words(tokens[..<separator]).joined(separator: " ")
            let doc = words(tokens[min(separator + 1, tokens.count)...])
            let text = "\(name): " + doc.prefix(12).joined(separator: " ") + (doc.count > 12 ? " …" : "")
            let answer = { (session: Session) throws -> String in
                guard let logits = try session.run(feeds, outputs: ["logits"])["logits"]?.doubles(),
                      let best = logits.indices.max(by: { logits[$0] < logits[$1] }), best < classes.count else { return "?" }
                return classes[best]
            }
            let truth = classes.indices.contains(labels[sample.index]) ? classes[labels[sample.index]] : "?"
            print("  \"\(text)\"\n      true: \(truth)   FP32: \(try answer(fp32))   INT8: \(try answer(int8))")
            return sample.index < (shown.max() ?? 0)
        }
    }

    /// The example folder: the option, else Examples/stdlib-topics under the current directory
    /// or under one of the octet executable's parent folders.
    static func locateExample(_ option: String?) throws -> URL {
        let complete = { (folder: URL) in files.allSatisfy { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) } }
        if let option {
            let folder = URL(fileURLWithPath: option)
            guard complete(folder) else {
                throw CLIError.message("\(option): not the demo's folder (expected \(files.joined(separator: ", ")))")
            }
            return folder
        }
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(folder)
            folder.deleteLastPathComponent()
        }
        let relative = "Examples/stdlib-topics"
        for candidate in candidates where complete(candidate.appendingPathComponent(relative)) {
            let found = candidate.appendingPathComponent(relative)
            // Shown relative to the current directory when it is below it.
            let here = FileManager.default.currentDirectoryPath + "/"
            return found.path.hasPrefix(here) ? URL(fileURLWithPath: String(found.path.dropFirst(here.count))) : found
        }
        throw CLIError.message("""
            the demo's files (\(relative)/: \(files.joined(separator: ", "))) are not under the current directory \
            or the octet executable's folders; run the demo from an Octet checkout or give --example-dir
            """)
    }

    static func lines(of path: String) throws -> [String] {
        do {
            return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                .map(String.init).filter { !$0.isEmpty }
        } catch {
            throw CLIError.message("\(path): cannot read it (\(error.localizedDescription))")
        }
    }
}
