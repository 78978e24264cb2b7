import Foundation
import OctetGraph

/// If, Loop and Scan: run subgraphs with the enclosing values in scope.
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

    /// Scan (opset 9 on): runs `body` once per slice of the scan inputs (along their
    /// `scan_input_axes`, forwards or backwards), carrying the state values and stacking the scan
    /// outputs along `scan_output_axes`.
    static func scan(_ context: KernelContext, states: [Tensor], scanInputs: [Tensor]) throws -> [Tensor] {
        let m = scanInputs.count
        let inputAxes = try (context.ints("scan_input_axes") ?? Array(repeating: 0, count: m)).enumerated().map { index, axis in
            try Layout.axis(axis, rank: index < m ? scanInputs[index].rank : 1)
        }
        let inputDirections = context.ints("scan_input_directions") ?? Array(repeating: 0, count: m)
        guard inputAxes.count == m, inputDirections.count == m, m > 0 else {
            throw KernelError("scan_input_axes and scan_input_directions need one entry per scan input (\(m))")
        }
        let length = scanInputs[0].shape[inputAxes[0]]
        for (index, input) in scanInputs.enumerated() where input.shape[inputAxes[index]] != length {
            throw KernelError("scan input #\(index) has \(input.shape[inputAxes[index]]) slices along its scan axis, expected \(length)")
        }
        let k = context.node.outputs.count - states.count
        guard k >= 0 else { throw KernelError("the node has fewer outputs than state values") }
        var carried = states
        var slices = [[Tensor]](repeating: [], count: k)
        for step in 0..<length {
            let inputs = try scanInputs.enumerated().map { index, input -> Tensor in
                let position = inputDirections[index] != 0 ? length - 1 - step : step
                let slice = try Layout.narrow(input, axis: inputAxes[index], start: position, end: position + 1)
                var shape = input.shape
                shape.remove(at: inputAxes[index])
                return slice.unsafeReshaped(shape)
            }
            let outputs = try context.runSubgraph(attribute: "body", inputs: carried + inputs)
            guard outputs.count == carried.count + k else {
                throw KernelError("the body returns \(outputs.count) values, expected \(carried.count + k)")
            }
            carried = Array(outputs[..<carried.count])
            for (index, value) in outputs[carried.count...].enumerated() { slices[index].append(value) }
        }
        let outputAxes = context.ints("scan_output_axes") ?? Array(repeating: 0, count: k)
        let outputDirections = context.ints("scan_output_directions") ?? Array(repeating: 0, count: k)
        guard outputAxes.count == k, outputDirections.count == k else {
            throw KernelError("scan_output_axes and scan_output_directions need one entry per scan output (\(k))")
        }
        let stacked = try slices.enumerated().map { index, values -> Tensor in
            guard let first = values.first else { throw KernelError("a scan over no slices has no scan outputs") }
            let ordered = outputDirections[index] != 0 ? values.reversed() : values
            let axis = try Layout.axis(outputAxes[index], rank: first.rank + 1)
            return try Layout.concat(ordered.map { value in
                var shape = value.shape
                shape.insert(1, at: axis)
                return value.unsafeReshaped(shape)
            }, axis: axis)
        }
        return carried + stacked
    }

    /// Scan at opset 8: a leading batch axis on every value, an optional sequence_lens first
    /// input; each batch entry is scanned on its own (scan outputs zero-padded to the longest).
    static func scan8(_ context: KernelContext) throws -> [Tensor] {
        let m = context.int("num_scan_inputs", 0)
        let values = try (1..<context.inputs.count).map { try context.input($0) }
        guard m > 0, m <= values.count, let batch = values.first?.shape.first else {
            throw KernelError("num_scan_inputs must be between 1 and the number of inputs")
        }
        let stateCount = values.count - m
        let lengths = try context.optionalInput(0)?.integers()
        var perBatch: [[Tensor]] = []
        for b in 0..<batch {
            let row = try values.map { try Layout.narrow($0, axis: 0, start: b, end: b + 1).unsafeReshaped(Array($0.shape.dropFirst())) }
            var scanInputs = Array(row[stateCount...])
            if let lengths {
                guard lengths.count == batch, lengths[b] >= 1, lengths[b] <= scanInputs[0].shape[0] else {
                    throw KernelError("sequence_lens must hold one length in 1...\(scanInputs[0].shape[0]) per batch entry")
                }
                scanInputs = try scanInputs.map { try Layout.narrow($0, axis: 0, start: 0, end: lengths[b]) }
            }
            perBatch.append(try scan(context, states: Array(row[..<stateCount]), scanInputs: scanInputs))
        }
        let full = values[stateCount].shape.count > 1 ? values[stateCount].shape[1] : 0
        return try (0..<(perBatch.first?.count ?? 0)).map { index in
            let parts = try perBatch.map { outputs -> Tensor in
                var value = outputs[index]
                if index >= stateCount, value.shape[0] < full {
                    var padding = value.shape
                    padding[0] = full - value.shape[0]
                    value = try Layout.concat([value, Tensor(zeros: value.dtype, shape: padding)], axis: 0)
                }
                return value.unsafeReshaped([1] + value.shape)
            }
            return try Layout.concat(parts, axis: 0)
        }
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Scan", since: 9) { context in
            let m = context.int("num_scan_inputs", 0)
            let inputs = try (0..<context.inputs.count).map { try context.input($0) }
            guard m > 0, m <= inputs.count else { throw KernelError("num_scan_inputs must be between 1 and the number of inputs") }
            return try scan(context, states: Array(inputs[..<(inputs.count - m)]), scanInputs: Array(inputs[(inputs.count - m)...]))
        }
        registry.register("Scan", since: 8) { try scan8($0) }
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
