import Foundation
import OctetQuant

/// `convert --int8 --report F.html`: one self-contained page (inline SVG and CSS, one small
/// inline script that sorts tables; nothing from the network) with the verdict, per-output
/// metrics, per-node SQNR, every quantized activation's |x| histogram with each method's
/// threshold, the damage ranking and the `--target-cosine` steps.
struct HTMLReport {
    /// One quantized activation: its histogram and the threshold each method would pick.
    struct TensorView {
        var name: String
        /// Counts in `bins.count` equal bins over [0, `top`].
        var bins: [Int64]
        /// The upper end of the drawn axis (≥ max |x| and every threshold).
        var top: Double
        var maxAbs: Double
        /// amax by method name, in drawing order.
        var thresholds: [(method: String, amax: Double)]
        /// The method of the range the model uses (`cache` when it came from a TensorRT cache).
        var chosen: String
        var chosenAmax: Double
    }

    let report: Int8Conversion.Report
    let tensors: [TensorView]
    /// Why there are no histograms, when there are none.
    let histogramNote: String?

    /// Bins drawn per histogram.
    static let displayBins = 128

    /// The views of `names` (activation tensors behind a QuantizeLinear), from calibration statistics.
    /// - Parameters:
    ///   - percentile: the percentile the percentile method keeps.
    static func views(of names: [String], statistics: CalibrationStatistics, ranges: [String: TensorRange], percentile: Double) -> [TensorView] {
        let byName = Dictionary(statistics.tensors.map { ($0.name, $0.statistics) }, uniquingKeysWith: { first, _ in first })
        return names.compactMap { name in
            guard let histogram = byName[name]?.histogram, let width = histogram.binWidth, let range = ranges[name] else { return nil }
            let methods: [RangeAlgorithm] = [.entropy, .percentile(percentile), .mse, .minmax]
            let thresholds = methods.compactMap { method in (try? method.amax(histogram)).map { (method.description, $0) } }
            let last = histogram.counts.lastIndex { $0 != 0 } ?? 0
            let top = ([Double(last + 1) * width, Double(histogram.maxAbs), range.amax] + thresholds.map(\.1)).max() ?? 1
            var bins = [Int64](repeating: 0, count: displayBins)
            for (index, count) in histogram.counts.enumerated() where count != 0 {
                let slot = min(displayBins - 1, Int((Double(index) + 0.5) * width / top * Double(displayBins)))
                bins[slot] += count
            }
            return TensorView(name: name, bins: bins, top: top > 0 ? top : 1, maxAbs: Double(histogram.maxAbs), thresholds: thresholds,
                              chosen: range.method, chosenAmax: range.amax)
        }
    }

    /// The page.
    func html() -> String {
        var body: [String] = []
        body.append("<h1>INT8 conversion of \(Self.escape(report.model))</h1>")
        body.append(summary())
        if let evaluation = report.evaluation {
            body.append(outputs(evaluation))
            body.append(sqnrChart(evaluation))
            body.append(ranking(evaluation))
        }
        body.append(fallback())
        body.append(histograms())
        body.append(decisions())
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Octet INT8 report: \(Self.escape(report.model))</title>
            <style>
            \(Self.style)
            </style>
            </head>
            <body>
            \(body.joined(separator: "\n"))
            <script>
            \(Self.script)
            </script>
            </body>
            </html>

            """
    }

    func summary() -> String {
        let quantized = report.nodes.filter(\.quantized).count
        var items = ["<li>Quantized <b>\(quantized)</b> of \(report.nodes.count) candidate nodes; ranges from \(Self.escape(report.rangesFrom)).</li>"]
        if let macs = report.evaluation?.macs {
            items.append("<li>" + Self.escape(TextTable.macLine(macs)) + ".</li>")
        }
        if !report.missingRanges.isEmpty {
            items.append("<li>\(report.missingRanges.count) node(s) left in float for lack of a range.</li>")
        }
        var verdict = ""
        if let evaluation = report.evaluation {
            items.append("<li>Evaluated on \(evaluation.samples) sample\(evaluation.samples == 1 ? "" : "s") (\(Self.escape(evaluation.on))).</li>")
            if let task = evaluation.taskAccuracy {
                items.append(String(format: "<li>Task accuracy on %d labelled rows of '%@': FP32 %.2f %%, INT8 %.2f %% (%@%.2f points).</li>", task.rows,
                                    Self.escape(task.output), task.fp32 * 100, task.int8 * 100, task.dropPoints > 0 ? "−" : "+", abs(task.dropPoints)))
            }
            verdict = evaluation.keptAccuracy
                ? "<p class=\"verdict good\" id=\"verdict\">INT8 kept accuracy.</p>"
                : "<p class=\"verdict bad\" id=\"verdict\">INT8 did NOT keep accuracy: see the outputs and the most damaged nodes below.</p>"
        } else {
            verdict = "<p class=\"verdict\" id=\"verdict\">Not evaluated (give --eval-data, or calibration data to hold out).</p>"
        }
        return "<section id=\"summary\"><h2>Summary</h2>\(verdict)<ul>\(items.joined())</ul></section>"
    }

    func outputs(_ evaluation: Int8Conversion.Report.Evaluation) -> String {
        let rows = evaluation.outputs.map { Int8Conversion.cells($0) }
        return "<section id=\"outputs\"><h2>Outputs, FP32 vs INT8</h2>" + Self.table(TextTable.outputHeader, rows, numeric: 1...) + "</section>"
    }

    /// Horizontal bars, one per quantized node in graph order, length by SQNR.
    func sqnrChart(_ evaluation: Int8Conversion.Report.Evaluation) -> String {
        // Decisions carry labels ("'name' (Op)"; unnamed nodes their display name, as the reports do).
        var byLabel: [String: LayerErrorAnalyzer.NodeReport] = [:]
        for node in evaluation.nodes { byLabel["'\(node.node)' (\(node.opType))"] = node; byLabel[node.node] = node }
        var seen = Set<String>()
        let ordered = (report.nodes.compactMap { byLabel[$0.node] } + evaluation.nodes).filter { seen.insert($0.node).inserted }
        guard !ordered.isEmpty else { return "<section id=\"sqnr\"><h2>SQNR per quantized node</h2><p>No quantized node was compared.</p></section>" }
        let finite = ordered.map(\.sqnr).filter(\.isFinite)
        let scale = max(40, (finite.max() ?? 40).rounded(.up))
        let (label, width, row) = (300.0, 460.0, 18.0)
        let height = Double(ordered.count) * row + 30
        var parts: [String] = []
        for (index, node) in ordered.enumerated() {
            let y = Double(index) * row + 4
            let value = node.sqnr.isFinite ? max(0, node.sqnr) : scale
            let length = max(1, value / scale * width)
            let color = node.sqnr < 20 ? "#c62828" : node.sqnr < 30 ? "#ef8f00" : "#2e7d32"
            let name = Self.escape(node.node)
            parts.append(String(format: "<g class=\"bar\"><title>%@ (%@): %@ dB</title><text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%@</text>"
                                + "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"/><text x=\"%.1f\" y=\"%.1f\">%@</text></g>",
                                name, Self.escape(node.opType), TextTable.decibels(node.sqnr), label - 6, y + 12, Self.escape(Self.shorten(node.node)),
                                label, y, length, row - 4, color, label + length + 4, y + 12, TextTable.decibels(node.sqnr)))
        }
        var axis: [String] = []
        for tick in stride(from: 0.0, through: scale, by: 10) {
            let x = label + tick / scale * width
            axis.append(String(format: "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>",
                               x, x, height - 18, x, height - 4, tick))
        }
        return """
            <section id="sqnr"><h2>SQNR per quantized node (dB, graph order; higher is better)</h2>
            <svg class="chart" id="sqnr-chart" width="\(Int(label + width + 60))" height="\(Int(height))" viewBox="0 0 \(Int(label + width + 60)) \(Int(height))" role="img" aria-label="SQNR per node">
            \(axis.joined())\(parts.joined())
            </svg></section>
            """
    }

    func ranking(_ evaluation: Int8Conversion.Report.Evaluation) -> String {
        let accumulated = Dictionary(evaluation.nodes.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
        let isolated = Dictionary(evaluation.isolatedNodes.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
        var seen = Set<String>()
        let order = (evaluation.isolatedNodes + evaluation.nodes).map(\.node).filter { seen.insert($0).inserted }
        let rows = order.enumerated().map { index, name in
            let node = accumulated[name] ?? isolated[name]
            return ["\(index + 1)", name, node?.opType ?? "", isolated[name].map { TextTable.decibels($0.sqnr) } ?? "-",
                    accumulated[name].map { TextTable.decibels($0.sqnr) } ?? "-", accumulated[name].map { String(format: "%.5f", $0.meanCosine) } ?? "-",
                    accumulated[name].map { String(format: "%.4g", $0.maxAbsError) } ?? "-"]
        }
        return "<section id=\"ranking\"><h2>Sensitivity ranking (most damaged first)</h2>"
            + "<p><i>Alone</i>: the SQNR of the node's output when it is the only node quantized (inputs quantized from the FP32 values, on the first "
            + "\(Int8Conversion.isolatedSamples) samples) — the ranking the fallback follows. <i>In the INT8 model</i>: the SQNR of its output in the "
            + "full INT8 model against the FP32 value of the same name (error from upstream nodes included), with its cosine and largest error.</p>"
            + Self.table(["rank", "node", "op", "alone dB", "in the INT8 model dB", "cosine mean", "max |error|"], rows, numeric: [0, 3, 4, 5, 6])
            + "</section>"
    }

    func fallback() -> String {
        guard !report.fallback.isEmpty else {
            return "<section id=\"fallback\"><h2>Fixes and fallback to FP32</h2><p>Nothing was changed (no --target-cosine or --target-metric, or the goal already held).</p></section>"
        }
        let rows = report.fallback.enumerated().map { index, step in
            ["\(index + 1)", step.node, String(step.summary.dropFirst(step.node.count)).trimmingCharacters(in: CharacterSet(charactersIn: ": ")),
             String(format: "%.5f", step.cosine), step.int8MACFraction.map { String(format: "%.1f %%", $0 * 100) } ?? "-"]
        }
        let excluded = report.fallback.last?.excludeNodes ?? []
        let line = excluded.isEmpty ? "" : "<p>To repeat without searching (with the calibration cache this run wrote):</p><pre>"
            + Self.escape("--exclude-nodes " + excluded.map { "'\($0)'" }.joined(separator: " ")) + "</pre>"
        return "<section id=\"fallback\"><h2>Fixes and fallback to FP32 (--target-cosine, --target-metric)</h2>"
            + Self.table(["step", "damaged node", "change", "smallest output cosine after", "MACs in INT8"], rows, numeric: [0, 3, 4])
            + line + "</section>"
    }

    static let methodColors = ["entropy": "#1565c0", "percentile": "#6a1b9a", "mse": "#ef6c00", "minmax": "#424242", "cache": "#00897b"]

    static func color(_ method: String) -> String {
        methodColors[String(method.split(separator: " ").first ?? "")] ?? "#00897b"
    }

    /// One small SVG per quantized activation: log-scale counts and a line per method.
    func histograms() -> String {
        guard !tensors.isEmpty else {
            return "<section id=\"histograms\"><h2>Quantized activations</h2><p>\(Self.escape(histogramNote ?? "No activation was quantized."))</p></section>"
        }
        let (width, height, top, bottom) = (420.0, 150.0, 22.0, 20.0)
        var figures: [String] = []
        for tensor in tensors {
            let peak = log10(Double(tensor.bins.max() ?? 0) + 1)
            let step = width / Double(tensor.bins.count)
            var path = ""
            for (index, count) in tensor.bins.enumerated() where count > 0 {
                let h = peak > 0 ? log10(Double(count) + 1) / peak * (height - top - bottom) : 0
                path += String(format: "M%.1f %.1fh%.1fv%.1fh%.1fz", Double(index) * step, height - bottom, step, -h, -step)
            }
            var lines: [String] = []
            let chosenLine = (tensor.chosen, tensor.chosenAmax)
            for (index, (method, amax)) in (tensor.thresholds + [chosenLine]).enumerated() {
                let isChosen = index == tensor.thresholds.count
                if !isChosen, method == tensor.chosen, abs(amax - tensor.chosenAmax) <= 1e-12 * max(1, amax) { continue }
                let x = min(width, amax / tensor.top * width)
                lines.append(String(format: "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"%@\" class=\"%@\"><title>%@: %.6g</title></line>",
                                    x, top - 4, x, height - bottom, Self.color(method), isChosen ? "threshold chosen" : "threshold", Self.escape(method), amax))
            }
            let legend = tensor.thresholds.map { method, amax in
                String(format: "<span style=\"color:%@\">%@ %.4g</span>", Self.color(method), Self.escape(method), amax)
            }.joined(separator: " · ")
            figures.append("""
                <figure class="histogram" data-tensor="\(Self.escape(tensor.name))">
                <figcaption><b>\(Self.escape(tensor.name))</b>: chosen <span style="color:\(Self.color(tensor.chosen))">\(Self.escape(tensor.chosen)) \(String(format: "%.4g", tensor.chosenAmax))</span>, max |x| \(String(format: "%.4g", tensor.maxAbs))</figcaption>
                <svg width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" role="img" aria-label="|x| histogram of \(Self.escape(tensor.name))">
                <path class="bins" d="\(path)"/>\(lines.joined())
                <line x1="0" y1="\(Int(height - bottom))" x2="\(Int(width))" y2="\(Int(height - bottom))" class="axis"/>
                <text x="0" y="\(Int(height - 4))">0</text><text x="\(Int(width))" y="\(Int(height - 4))" text-anchor="end">\(String(format: "%.4g", tensor.top))</text>
                </svg>
                <div class="legend">\(legend)</div>
                </figure>
                """)
        }
        return """
            <section id="histograms"><h2>Quantized activations: |x| histograms (log counts) and thresholds</h2>
            <p>Each line is the range a method picks from the same histogram; the thick one is the range the model uses.</p>
            \(figures.joined(separator: "\n"))
            </section>
            """
    }

    func decisions() -> String {
        let rows = report.nodes.map { [$0.node, $0.opType, $0.quantized ? "INT8" : "float", $0.reason ?? ""] }
        return "<section id=\"decisions\"><h2>Placement decisions</h2>" + Self.table(["node", "op", "precision", "why float"], rows, numeric: []) + "</section>"
    }

    /// A sortable table (click a header).
    static func table<S: Sequence>(_ header: [String], _ rows: [[String]], numeric: S) -> String where S.Element == Int {
        let numericColumns = Set(numeric.prefix(header.count))
        let head = header.enumerated().map { index, title in
            "<th\(numericColumns.contains(index) ? " data-numeric" : "")>\(escape(title))</th>"
        }.joined()
        let body = rows.map { row in "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }.joined(separator: "\n")
        return "<table class=\"sortable\"><thead><tr>\(head)</tr></thead><tbody>\n\(body)\n</tbody></table>"
    }

    static func shorten(_ name: String) -> String {
        name.count <= 46 ? name : "…" + name.suffix(45)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static let style = """
        body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; padding: 0 16px; }
        h1 { font-size: 22px; word-break: break-all; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
        table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
        th { cursor: pointer; background: #f5f5f5; } th[data-numeric], td { font-variant-numeric: tabular-nums; }
        .verdict { font-size: 16px; font-weight: 600; padding: 8px 12px; border-radius: 4px; background: #f0f0f0; }
        .verdict.good { background: #e8f5e9; color: #1b5e20; } .verdict.bad { background: #ffebee; color: #b71c1c; }
        svg text { font-size: 11px; fill: #333; } .grid { stroke: #e0e0e0; } .axis { stroke: #888; }
        .bins { fill: #90a4ae; } .threshold { stroke-width: 1.5; stroke-dasharray: 4 3; } .threshold.chosen { stroke-width: 3; stroke-dasharray: none; }
        figure.histogram { display: inline-block; margin: 8px 12px 8px 0; vertical-align: top; width: 420px; }
        figcaption { font-size: 12px; word-break: break-all; } .legend { font-size: 11px; }
        pre { background: #f5f5f5; padding: 8px; overflow-x: auto; }
        """

    static let script = """
        document.querySelectorAll("table.sortable th").forEach(function (th, column) {
          th.addEventListener("click", function () {
            var table = th.closest("table"), body = table.tBodies[0], index = Array.prototype.indexOf.call(th.parentNode.children, th);
            var numeric = th.hasAttribute("data-numeric"), ascending = th.getAttribute("data-order") !== "asc";
            var rows = Array.prototype.slice.call(body.rows);
            rows.sort(function (a, b) {
              var x = a.cells[index].textContent, y = b.cells[index].textContent;
              var order = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
              return ascending ? order : -order;
            });
            rows.forEach(function (row) { body.appendChild(row); });
            th.setAttribute("data-order", ascending ? "asc" : "desc");
          });
        });
        """
}
