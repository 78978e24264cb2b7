import Foundation
import OctetGraph

/// If: runs one branch with the enclosing values in scope.
enum ControlFlowKernels {
    static func register(in registry: inout OpRegistry) {
        registry.register("If") { context in
            let condition = try context.input(0)
            guard condition.elementCount == 1, let flag = try condition.doubles().first else {
                throw KernelError("the condition must hold exactly one value, got shape \(condition.shape)")
            }
            return try context.runSubgraph(attribute: flag != 0 ? "then_branch" : "else_branch")
        }
    }
}
