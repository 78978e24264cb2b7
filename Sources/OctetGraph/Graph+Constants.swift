import Foundation

extension Graph {
    /// Every constant tensor of this graph (not of its subgraphs), by value name: initializers,
    /// and outputs of `Constant` nodes whose value is a tensor or a `value_float(s)` /
    /// `value_int(s)` attribute. Exporters that write weights as `Constant` nodes are thus
    /// handled like those that write initializers.
    public var constants: [String: Tensor] {
        var result: [String: Tensor] = [:]
        for initializer in initializers { result[initializer.name] = initializer.tensor }
        for node in nodes where node.opType == "Constant" && OpsetImport.canonical(node.domain) == "" {
            if let output = node.outputs.first, let tensor = node.constantValue { result[output] = tensor }
        }
        return result
    }
}

extension Node {
    /// The value of a `Constant` node, when it is a dense tensor or a number list
    /// (`value`, `value_float`, `value_floats`, `value_int`, `value_ints`).
    public var constantValue: Tensor? {
        guard opType == "Constant", let attribute = attributes.first else { return nil }
        switch (attribute.name, attribute.value) {
        case ("value", .tensor(let constant)): return constant.tensor
        case ("value_float", .float(let value)): return Tensor(shape: [], scalars: [value])
        case ("value_floats", .floats(let values)): return Tensor(shape: [values.count], scalars: values)
        case ("value_int", .int(let value)): return Tensor(shape: [], scalars: [value])
        case ("value_ints", .ints(let values)): return Tensor(shape: [values.count], scalars: values)
        default: return nil
        }
    }
}
