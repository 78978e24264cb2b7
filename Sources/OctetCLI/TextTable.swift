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
}
