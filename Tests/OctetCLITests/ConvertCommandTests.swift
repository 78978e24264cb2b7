import Foundation
import Testing
import _OctetTestSupport
import OctetGraph

/// `octet convert` without quantization: validate and re-save, never touching its inputs.
struct ConvertCommandTests {
    @Test func rewritesAndMovesWeights() throws {
        let folder = try TemporaryFolder()
        let source = folder.file("model.onnx")
        try TestModels.linearRelu().save(to: source)
        let external = try OctetProcess.run(["convert", source.path, "-o", folder.file("ext.onnx").path,
                                             "--save-external-data", "--external-data-size-threshold", "16"])
        #expect(external.status == 0, "\(external.stderr)")
        #expect(external.stdout.contains("external data ext.onnx.data"))
        let reloaded = try Model.load(contentsOf: folder.file("ext.onnx"))
        #expect(reloaded.graph.initializers.map { $0.externalSource?.location } == ["ext.onnx.data", nil])
        let back = try OctetProcess.run(["convert", folder.file("ext.onnx").path, "-o", folder.file("back.onnx").path])
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try Data(contentsOf: folder.file("back.onnx")) == Data(contentsOf: source))
    }

    @Test func neverOverwritesItsInput() throws {
        let folder = try TemporaryFolder()
        let source = folder.file("model.onnx")
        try TestModels.linearRelu().save(to: source)
        let before = try Data(contentsOf: source)
        let result = try OctetProcess.run(["convert", source.path, "-o", source.path])
        #expect(result.status == 1 && result.stderr.contains("refusing to overwrite the input"))
        try FileManager.default.createSymbolicLink(at: folder.file("alias.onnx"), withDestinationURL: source)
        let aliased = try OctetProcess.run(["convert", source.path, "-o", folder.file("alias.onnx").path])
        #expect(aliased.status == 1 && aliased.stderr.contains("refusing to overwrite"))
        #expect(try Data(contentsOf: source) == before)
    }

    @Test func neverOverwritesTheInputsExternalData() throws {
        let folder = try TemporaryFolder()
        let source = folder.file("model.onnx")
        try TestModels.linearRelu().save(to: source, options: SaveOptions(externalData: .always, location: "weights.bin", sizeThreshold: 0))
        let result = try OctetProcess.run(["convert", source.path, "-o", folder.file("copy.onnx").path,
                                           "--save-external-data", "--external-data-path", "weights.bin"])
        #expect(result.status == 1 && result.stderr.contains("weights.bin"), "\(result.stderr)")
        #expect(try Model.load(contentsOf: source).graph.initializers.count == 2)
    }

    /// An external data path that is the output model itself, or a folder, is refused before
    /// anything is written.
    @Test func externalDataPathThatWouldClobberIsRefused() throws {
        let folder = try TemporaryFolder()
        let model = OctetProcess.repositoryRoot.appendingPathComponent("Examples/mini-encoder/model.onnx").path
        let same = try OctetProcess.run(["convert", model, "-o", folder.file("out.onnx").path, "--save-external-data",
                                         "--external-data-path", "out.onnx"])
        #expect(same.status == 1 && same.stderr.contains("--external-data-path out.onnx: the external data would overwrite the model"))
        #expect(!FileManager.default.fileExists(atPath: folder.file("out.onnx").path))
        try FileManager.default.createDirectory(at: folder.file("weights"), withIntermediateDirectories: false)
        let directory = try OctetProcess.run(["convert", model, "-o", folder.file("out.onnx").path, "--save-external-data",
                                              "--external-data-path", "weights"])
        #expect(directory.status == 1 && directory.stderr.contains("weights: exists and is not a regular file"), "\(directory.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("out.onnx").path))
    }

    /// An output path naming a FIFO (like a device node) is refused and left as it was.
    @Test func outputsNeverReplaceSpecialFiles() throws {
        let folder = try TemporaryFolder()
        let fifo = folder.file("pipe.onnx")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let model = OctetProcess.repositoryRoot.appendingPathComponent("Examples/mini-encoder/model.onnx").path
        let result = try OctetProcess.run(["convert", model, "-o", fifo.path])
        #expect(result.status == 1 && result.stderr.contains("exists and is not a regular file"), "\(result.stderr)")
        let type = try FileManager.default.attributesOfItem(atPath: fifo.path)[.type] as? FileAttributeType
        #expect(type != nil && type != .typeRegular, "the FIFO is still there")
    }

    @Test func badFlagsAndMissingFolders() throws {
        let folder = try TemporaryFolder()
        let source = folder.file("model.onnx")
        try TestModels.linearRelu().save(to: source)
        let both = try OctetProcess.run(["convert", source.path, "-o", folder.file("x.onnx").path, "--save-external-data", "--no-external-data"])
        #expect(both.status == 64 && both.stderr.contains("contradict"))
        let noOutput = try OctetProcess.run(["convert", source.path])
        #expect(noOutput.status == 64 && noOutput.stderr.contains("--output"))
        let missing = try OctetProcess.run(["convert", source.path, "-o", folder.file("nowhere/x.onnx").path])
        #expect(missing.status == 1 && missing.stderr.contains("does not exist"))
    }

    @Test func prepareReportsItsStepsAndRefusesOldOpsets() throws {
        let folder = try TemporaryFolder()
        var model = TestModels.linearRelu()
        model.opsetImports = [OpsetImport(domain: "", version: 12)]
        try model.save(to: folder.file("m12.onnx"))
        let prepared = try OctetProcess.run(["convert", folder.file("m12.onnx").path, "-o", folder.file("p.onnx").path, "--prepare"])
        #expect(prepared.status == 0, "\(prepared.stderr)")
        #expect(prepared.stdout.contains("Prepared: opset 12 → 13, 0 Constant nodes to initializers, 0 nodes computed from constants folded, 0 BatchNormalization folded into Conv"))
        #expect(try Model.load(contentsOf: folder.file("p.onnx")).opsetVersion(for: "") == 13)
        model.opsetImports = [OpsetImport(domain: "", version: 9)]
        try model.save(to: folder.file("m9.onnx"))
        let old = try OctetProcess.run(["convert", folder.file("m9.onnx").path, "-o", folder.file("q.onnx").path, "--prepare"])
        #expect(old.status == 1 && old.stderr.contains("m9.onnx: the model uses ONNX opset 9; Octet upgrades opsets 11 and 12 to 13"))
        #expect(!FileManager.default.fileExists(atPath: folder.file("q.onnx").path))
        let usage = try OctetProcess.run(["convert", folder.file("m9.onnx").path, "-o", folder.file("q.onnx").path, "--no-fold-batch-norm"])
        #expect(usage.status == 64)
    }

    @Test func int8DryRunListsDecisionsAndWritesNothing() throws {
        let folder = try TemporaryFolder()
        let data = OctetProcess.repositoryRoot.appendingPathComponent("Examples/mini-encoder/calib.npz").path
        let example = DataCheckCommandTests.example
        let out = folder.file("q.onnx").path
        let dry = try OctetProcess.run(["convert", example, "--int8", "--calibration-data", data, "-o", out, "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.hasPrefix("Would quantize 9 of 9 candidate nodes (ranges from calibration)\n  INT8  'MatMul_38' (MatMul)\n"))
        #expect(dry.stdout.contains("  INT8  'Gemm_119' (Gemm)\n"))
        #expect(!FileManager.default.fileExists(atPath: out))
        let json = try OctetProcess.run(["convert", example, "--int8", "--calibration-data", data, "-o", out, "--dry-run", "--json",
                                         "--exclude-op-types", "Gemm"])
        let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let nodes = report?["nodes"] as? [[String: Any]] ?? []
        #expect(!nodes.isEmpty && !nodes.contains { $0["opType"] as? String == "Gemm" })
        let written = try OctetProcess.run(["convert", example, "--int8", "--calibration-data", data, "-o", out])
        #expect(written.status == 0 && written.stdout.hasPrefix("Wrote \(out)"), "\(written.stderr)")
        let quantized = try Model.load(contentsOf: URL(fileURLWithPath: out))
        #expect(quantized.graph.nodes.contains { $0.opType == "QuantizeLinear" } && quantized.opsetVersion(for: "") == 17)
    }

    @Test func int8UsageErrors() throws {
        let example = DataCheckCommandTests.example
        let plan = try OctetProcess.run(["convert", example, "--int8", "--calibration-data", "x.npz", "-o", "model.plan"])
        #expect(plan.status == 64 && plan.stderr.contains("trtexec --onnx=model.int8.onnx --int8 --saveEngine=model.plan"))
        let noRanges = try OctetProcess.run(["convert", example, "--int8", "-o", "q.onnx"])
        #expect(noRanges.status == 64 && noRanges.stderr.contains("--int8 needs ranges"))
        let stray = try OctetProcess.run(["convert", example, "-o", "q.onnx", "--dry-run"])
        #expect(stray.status == 64 && stray.stderr.contains("go with --int8"))
        let base = ["convert", example, "--int8", "--calibration-data", "x.npz", "-o", "q.onnx"]
        let cases: [([String], String)] = [
            (["--report", "q.onnx"], "each --report needs its own file"),
            (["--report", "r.html", "--report", "./r.html"], "each --report needs its own file"),
            (["--smooth-alpha", "0.5"], "--smooth-alpha is tried by --target-cosine or --target-metric"),
            (["--smooth-alpha", "1.5", "--target-cosine", "0.99"], "--smooth-alpha is in (0, 1]"),
            (["--target-metric", "top1"], "--target-metric top1 needs --eval-data and --eval-labels"),
        ]
        for (extra, message) in cases {
            let result = try OctetProcess.run(base + extra)
            #expect(result.status == 64 && result.stderr.contains(message), "\(extra): \(result.stderr)")
        }
    }

    @Test func int8KeepsExternalWeightsExternal() throws {
        let folder = try TemporaryFolder()
        try TestModels.maskedCNN().save(to: folder.file("plain.onnx"))
        let external = try OctetProcess.run(["convert", folder.file("plain.onnx").path, "-o", folder.file("model.onnx").path,
                                             "--save-external-data", "--external-data-size-threshold", "16"])
        #expect(external.status == 0, "\(external.stderr)")
        let values = TestModels.randomFloats(8 * 72, seed: 2)
        try NPZArchive.write([("x", Tensor(shape: [8, 2, 6, 6], scalars: values))], to: folder.file("calib.npz"))
        let result = try OctetProcess.run(["convert", folder.file("model.onnx").path, "--int8", "--calibration-data", folder.file("calib.npz").path,
                                           "-o", folder.file("q.onnx").path, "--external-data-size-threshold", "16"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("external data q.onnx.data"))
        let quantized = try Model.load(contentsOf: folder.file("q.onnx"))
        #expect(quantized.graph.initializers.contains { $0.externalSource?.location == "q.onnx.data" })
        #expect(quantized.graph.nodes.filter { $0.opType == "QuantizeLinear" }.count == 7)
    }

    @Test func int8ReportsAccuracyOnHeldOutSamples() throws {
        let folder = try TemporaryFolder()
        let data = OctetProcess.repositoryRoot.appendingPathComponent("Examples/mini-encoder/calib.npz").path
        let result = try OctetProcess.run(["convert", DataCheckCommandTests.example, "--int8", "--calibration-data", data,
                                           "-o", folder.file("q.onnx").path, "--report", folder.file("r.json").path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Accuracy, FP32 vs INT8 on 3 samples (every 10th calibration sample, held out of calibration):"))
        #expect(result.stdout.contains("INT8 kept accuracy (every output's mean cosine ≥ 0.99, top-1 agreement ≥ 99.0 %)"))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.file("r.json"))) as? [String: Any]
        let evaluation = report?["evaluation"] as? [String: Any]
        #expect(evaluation?["samples"] as? Int == 3 && evaluation?["keptAccuracy"] as? Bool == true)
        #expect((report?["ranges"] as? [Any])?.isEmpty == false)
        let strict = try OctetProcess.run(["convert", DataCheckCommandTests.example, "--int8", "--calibration-data", data,
                                           "-o", folder.file("q2.onnx").path, "--eval-data", data, "--min-cosine", "0.99999"])
        #expect(strict.status == 0 && strict.stdout.contains("Accuracy, FP32 vs INT8 on 32 samples (--eval-data)"))
        #expect(strict.stdout.contains("INT8 did NOT keep accuracy (thresholds: every output's mean cosine ≥ 0.99999"))
    }

    @Test func int8LabelsAreCheckedAgainstTheEvaluationRows() throws {
        let folder = try TemporaryFolder()
        let data = OctetProcess.repositoryRoot.appendingPathComponent("Examples/mini-encoder/calib.npz").path
        try NPYFile.write(Tensor(shape: [5], scalars: [Int64](repeating: 1, count: 5)), to: folder.file("five.npy"))
        try NPYFile.write(Tensor(shape: [32], scalars: [Float](repeating: 1, count: 32)), to: folder.file("float.npy"))
        let base = ["convert", DataCheckCommandTests.example, "--int8", "--calibration-data", data, "-o", folder.file("q.onnx").path]
        let alone = try OctetProcess.run(base + ["--eval-labels", folder.file("five.npy").path])
        #expect(alone.status == 64 && alone.stderr.contains("--eval-labels label the samples of --eval-data; give both."))
        let count = try OctetProcess.run(base + ["--eval-data", data, "--eval-labels", folder.file("five.npy").path])
        #expect(count.status == 1)
        #expect(count.stderr.contains("five.npy: there are 5 labels but the evaluation samples gave 32 rows of 'pooler_output'"))
        let floats = try OctetProcess.run(base + ["--eval-data", data, "--eval-labels", folder.file("float.npy").path])
        #expect(floats.status == 1 && floats.stderr.contains("float.npy: labels must be integers (class indexes), not float32"))
        // A labels file that lies about its size (header promises 10^9 int64 values) or is not
        // NumPy at all: one error naming the file, before calibration.
        var lying = Data("\u{93}NUMPY".utf8)
        lying.append(contentsOf: [1, 0])
        var header = "{'descr': '<i8', 'fortran_order': False, 'shape': (1000000000,), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        lying.append(contentsOf: [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        lying.append(Data(header.utf8))
        lying.append(Data(count: 16))
        try lying.write(to: folder.file("lying.npy"))
        try Data("not numpy".utf8).write(to: folder.file("garbage.npy"))
        for name in ["lying.npy", "garbage.npy"] {
            let bad = try OctetProcess.run(base + ["--eval-data", data, "--eval-labels", folder.file(name).path])
            #expect(bad.status == 1 && bad.stderr.hasPrefix("Error: ") && bad.stderr.contains(name), "\(bad.stderr)")
            #expect(!bad.stderr.contains("Fatal error"))
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("q.onnx").path))
    }

    @Test func demoNamesItsMissingFiles() throws {
        let folder = try TemporaryFolder()
        let result = try OctetProcess.run(["demo", "--example-dir", folder.url.path, "--output-dir", folder.file("out").path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(folder.url.path): not the demo's folder (expected model.onnx, calib.npz, eval.npz, eval-labels.npy, classes.txt, vocab.txt)"))
    }
}
