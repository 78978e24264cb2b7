import OctetQuant

/// Left-aligned text columns, two spaces apart, each line indented by two spaces.
enum TextTable {
    /// - Parameter rows: cells; the first row is the header.
    static func lines(_ rows: [[String]]) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            "  " + zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
    }

    /// The cells of one output's metrics: name, cosine mean and min, SQNR, max |error|, top-1 agreement.
    static let outputHeader = ["output", "cosine mean", "cosine min", "SQNR dB", "max |error|", "top-1 agree"]

    static func decibels(_ value: Double) -> String { value.isFinite ? String(format: "%.1f", value) : "inf" }

    /// "INT8 runs 97.1 % of the candidate multiply-accumulates (…)".
    static func macLine(_ macs: MACCount) -> String {
        let nodes = macs.nodes.filter(\.int8).count
        return String(format: "INT8 runs %.1f %% of the candidate multiply-accumulates (%@ of %@ per sample; %d of %d Conv/ConvTranspose/Gemm/MatMul nodes)",
                      macs.int8Fraction * 100, count(macs.int8), count(macs.total), nodes, macs.nodes.count)
    }

    /// 1.23 G, 45.6 M, 789 k, 12.
    static func count(_ value: Int64) -> String {
        let v = Double(value)
        if v >= 1e9 { return String(format: "%.2f G", v / 1e9) }
        if v >= 1e6 { return String(format: "%.1f M", v / 1e6) }
        if v >= 1e3 { return String(format: "%.1f k", v / 1e3) }
        return "\(value)"
    }
}
