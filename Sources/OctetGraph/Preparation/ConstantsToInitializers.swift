import Foundation

/// Preparation: `Constant` nodes of the main graph whose value is a tensor (or a number list)
/// become initializers of the same name, as exporters at opset 11–12 often write every weight
/// as a `Constant` node and Q/DQ placement looks for weights among initializers.
public enum ConstantsToInitializers {
    /// Rewrites `editor`'s graph; returns how many nodes became initializers.
    @discardableResult
    public static func apply(_ editor: inout GraphEditor) -> Int {
        var removed = IndexSet()
        for (index, node) in editor.graph.nodes.enumerated()
        where node.opType == "Constant" && OpsetImport.canonical(node.domain) == "" {
            guard let output = node.outputs.first, !output.isEmpty, let value = node.constantValue,
                  editor.initializer(output) == nil
            else { continue }
            editor.setInitializer(output, value)
            removed.insert(index)
        }
        editor.removeNodes(at: removed)
        return removed.count
    }
}
