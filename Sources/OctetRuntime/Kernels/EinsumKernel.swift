import Foundation
import OctetGraph

/// Einsum for any number of operands (explicit or implicit output, `...` broadcasting),
/// evaluated by iterating over the index space in double precision.
enum EinsumKernel {
    static func einsum(_ context: KernelContext) throws -> Tensor {
        let operands = context.inputs.compactMap { $0 }
        let equation = context.string("equation", "").replacingOccurrences(of: " ", with: "")
        let sides = equation.components(separatedBy: "->")
        var terms = sides[0].components(separatedBy: ",")
        guard terms.count == operands.count else { throw KernelError("equation '\(equation)' names \(terms.count) operands, got \(operands.count)") }
        // Replace each "..." with fresh capital letters matching the operand's extra rank.
        let ellipsisRank = zip(terms, operands).map { term, operand in term.contains("...") ? operand.rank - (term.count - 3) : 0 }.max() ?? 0
        let fresh = (0..<ellipsisRank).map { String(UnicodeScalar(UInt8(65 + $0))) }
        terms = zip(terms, operands).map { term, operand in
            guard term.contains("...") else { return term }
            let extra = operand.rank - (term.count - 3)
            return term.replacingOccurrences(of: "...", with: fresh.suffix(extra).joined())
        }
        var output: String
        if sides.count > 1 {
            output = sides[1].replacingOccurrences(of: "...", with: fresh.joined())
        } else {
            let letters = terms.joined()
            output = fresh.joined() + String(Set(letters.filter { letter in letters.filter { $0 == letter }.count == 1 && !letter.isUppercase }).sorted())
        }
        var sizes: [Character: Int] = [:]
        for (term, operand) in zip(terms, operands) {
            guard term.count == operand.rank else { throw KernelError("term '\(term)' does not match an operand of shape \(operand.shape)") }
            for (letter, dim) in zip(term, operand.shape) {
                if let known = sizes[letter], known != dim, known != 1, dim != 1 {
                    throw KernelError("index '\(letter)' has sizes \(known) and \(dim)")
                }
                sizes[letter] = max(sizes[letter] ?? 1, dim)
            }
        }
        let all = Array(output) + Array(Set(terms.joined()).subtracting(output)).sorted()
        let extents = all.map { sizes[$0] ?? 1 }
        let values = try operands.map { try $0.doubles() }
        let maps: [[Int]] = zip(terms, operands).map { term, operand in
            let strides = Layout.strides(operand.shape)
            // A letter repeated within a term (a diagonal) advances along all of its axes.
            return all.map { letter in
                zip(term, operand.shape.indices).filter { $0.0 == letter }
                    .reduce(0) { total, pair in total + (operand.shape[pair.1] == 1 ? 0 : strides[pair.1]) }
            }
        }
        let outputShape = Array(extents.prefix(output.count))
        let outputCount = outputShape.reduce(1, *)
        let innerCount = extents.dropFirst(output.count).reduce(1, *)
        var result = [Double](repeating: 0, count: outputCount)
        var index = [Int](repeating: 0, count: all.count)
        for flat in 0..<(outputCount * innerCount) {
            var product = 1.0
            for (operand, map) in maps.enumerated() {
                var offset = 0
                for axis in 0..<all.count { offset += index[axis] * map[axis] }
                product *= values[operand][offset]
            }
            result[flat / max(innerCount, 1)] += product
            var axis = all.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < extents[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return try Tensor(shape: outputShape, scalars: result).converted(to: operands[0].dtype)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Einsum") { [try einsum($0)] }
    }
}
