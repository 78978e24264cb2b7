import OctetGraph

/// A 2-D convolution's filters as GEMM micro-panels, one packed matrix per group
/// (`[filters/group × channels/group·kh·kw]`): made once per session for constant weights.
final class PackedFilters: @unchecked Sendable {
    /// Per group, its filters packed by rows of 12.
    let groups: [GEMM.PackedRows]

    /// Packs float32 filters `w[filters, channels/group, kh, kw]`.
    init(w: Tensor, group: Int) {
        let filters = w.shape.first ?? 0
        let groupFilters = filters / max(group, 1)
        let rows = filters == 0 ? 0 : w.elementCount / filters
        groups = w.withElements(as: Float.self) { weights in
            guard let base = weights.baseAddress else { return [] }
            return (0..<group).map { g in GEMM.PackedRows(m: groupFilters, k: rows, a: base + g * groupFilters * rows) }
        }
    }
}
