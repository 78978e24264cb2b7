import Foundation
import OctetGraph

/// If and Loop: run subgraphs with the enclosing values in scope.
enum ControlFlowKernels {
    /// Loop: runs `body` while the trip count and condition allow, carrying values from one
    /// iteration to the next and stacking the scan outputs along a new first axis.
    static func loop(_ context: KernelContext) throws -> [Tensor] {
        let limit = try context.optionalInput(0)?.integers().first
        var condition = try context.optionalInput(1).map { try $0.doubles().first != 0 } ?? true
        var carried = try (2..<max(context.inputs.count, 2)).map { try context.input($0) }
        let scanCount = context.node.outputs.count - carried.count
        guard scanCount >= 0 else { throw KernelError("the node has fewer outputs than loop-carried values") }
        var scans = [[Tensor]](repeating: [], count: scanCount)
        var iteration: Int64 = 0
        while condition && (limit.map { iteration < Int64($0) } ?? true) {
            let outputs = try context.runSubgraph(attribute: "body", inputs: [
                Tensor(shape: [], scalars: [iteration]), Tensor(shape: [], scalars: [condition]),
            ] + carried)
            guard outputs.count == 1 + carried.count + scanCount else {
                throw KernelError("the body returns \(outputs.count) values, expected \(1 + carried.count + scanCount)")
            }
            condition = try outputs[0].doubles().first != 0
            carried = Array(outputs[1..<(1 + carried.count)])
            for (index, value) in outputs[(1 + carried.count)...].enumerated() { scans[index].append(value) }
            iteration += 1
        }
        let stacked = try scans.map { values -> Tensor in
            guard let first = values.first else { return Tensor(zeros: .float32, shape: [0]) }
            return try Layout.concat(values.map { $0.unsafeReshaped([1] + $0.shape) }, axis: 0).unsafeReshaped([values.count] + first.shape)
        }
        return carried + stacked
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("If") { context in
            let condition = try context.input(0)
            guard condition.elementCount == 1, let flag = try condition.doubles().first else {
                throw KernelError("the condition must hold exactly one value, got shape \(condition.shape)")
            }
            return try context.runSubgraph(attribute: flag != 0 ? "then_branch" : "else_branch")
        }
        registry.register("Loop") { try loop($0) }
    }
}
