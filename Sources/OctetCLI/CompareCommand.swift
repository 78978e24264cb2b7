import ArgumentParser
import Foundation
import OctetData
import OctetGraph
import OctetQuant

/// `octet compare`: where a Q/DQ model loses accuracy against its FP32 original.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare an INT8 (Q/DQ) model with its FP32 original, per output and per quantized node.",
        discussion: """
            Both models run on Octet's engine over the data, one sample at a time. Per graph output: \
            cosine similarity (mean, min), SQNR, max |error| and top-1 agreement. Per quantized node \
            (a node reading a DequantizeLinear output whose output name the FP32 model also has): the \
            SQNR, mean cosine and max |error| of that output, most damaged first.
            """
    )

    @Argument(help: "The FP32 model.")
    var model: String

    @Argument(help: "Its INT8 Q/DQ model (as `octet convert --int8` writes it).")
    var quantized: String

    @Option(name: .long, parsing: .upToNextOption, help: "Samples to compare on, in any layout calibration data may have.")
    var data: [String] = []

    @Option(name: .long, help: "A Python script yielding dicts {input name: array}, as script.py or script.py:function.")
    var dataLoaderScript: [String] = []

    @Option(help: "Compare on the first N samples only.")
    var maxSamples: Int?

    @Option(help: "Rows of the per-node table to print (all with --json).")
    var top = 20

    @Flag(help: "Print a JSON document instead of text.")
    var json = false

    func validate() throws {
        if data.isEmpty && dataLoaderScript.isEmpty { throw ValidationError("give the samples with --data PATH... or --data-loader-script SCRIPT") }
        if let maxSamples, maxSamples < 1 { throw ValidationError("--max-samples must be at least 1") }
        if top < 0 { throw ValidationError("--top must not be negative") }
    }

    /// The JSON document: samples, per-output and per-node reports.
    struct Report: Encodable {
        let model: String
        let quantized: String
        let samples: Int
        let outputs: [AccuracyEvaluator.OutputReport]
        let nodes: [LayerErrorAnalyzer.NodeReport]
        let macs: MACCount?
    }

    func run() throws {
        let reference = try Model.load(contentsOf: URL(fileURLWithPath: model))
        let int8 = try Model.load(contentsOf: URL(fileURLWithPath: quantized))
        let samples = try CalibrationData(paths: data, loaderScripts: dataLoaderScript)
        let limit = maxSamples ?? Int.max
        let comparison: LayerErrorAnalyzer.Comparison
        do {
            comparison = try LayerErrorAnalyzer(reference: reference, quantized: int8).compare(samples, model: reference) { $0 < limit }
        } catch let error as LayerErrorAnalyzer.QuantizedModelError {
            throw CLIError.message("\(quantized): \(error.localizedDescription)")
        }
        guard comparison.samples > 0 else { throw CLIError.message("\(data.first ?? "the data"): no sample could be compared") }
        let report = Report(model: model, quantized: quantized, samples: comparison.samples, outputs: comparison.outputs, nodes: comparison.nodes,
                            macs: comparison.macs)
        try Console.printResult(report, json: json) { Self.text(report, top: top) }
    }

    static func text(_ report: Report, top: Int) -> String {
        var lines = ["FP32 \(report.model) vs INT8 \(report.quantized) on \(report.samples) sample\(report.samples == 1 ? "" : "s")"]
        lines += TextTable.lines([TextTable.outputHeader] + report.outputs.map(Int8Conversion.cells))
        if let macs = report.macs { lines.append(TextTable.macLine(macs)) }
        let shown = report.nodes.prefix(top)
        lines.append("Quantized nodes by damage (lowest SQNR first), \(shown.count) of \(report.nodes.count):")
        lines += TextTable.lines([["node", "op", "SQNR dB", "cosine mean", "max |error|"]] + shown.map { node in
            [node.node, node.opType, TextTable.decibels(node.sqnr), String(format: "%.5f", node.meanCosine), String(format: "%.4g", node.maxAbsError)]
        })
        return lines.joined(separator: "\n") + "\n"
    }
}
