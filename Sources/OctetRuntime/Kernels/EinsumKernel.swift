import Foundation
import OctetGraph

/// Einsum for any number of operands (explicit or implicit output, `...` broadcasting).
/// Two-operand contractions run as one batched matrix product; other equations (diagonals,
/// three or more operands, broadcasting) iterate over the index space in double precision.
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
        if operands.count == 2, let product = try contract(operands[0], Array(terms[0]), operands[1], Array(terms[1]), Array(output)) {
            return product
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

    /// A two-operand contraction as one batched matrix product, when every letter is a batch,
    /// contracted or free index (no diagonals, no letters summed within one operand, no size-1
    /// broadcasting); `nil` otherwise.
    static func contract(_ a: Tensor, _ left: [Character], _ b: Tensor, _ right: [Character], _ output: [Character]) throws -> Tensor? {
        let all = left + right + output
        guard Set(left).count == left.count, Set(right).count == right.count, Set(output).count == output.count,
              a.rank == left.count, b.rank == right.count, a.dtype == b.dtype else { return nil }
        var sizes: [Character: Int] = [:]
        for (letter, dim) in Array(zip(left, a.shape)) + Array(zip(right, b.shape)) {
            if let known = sizes[letter], known != dim { return nil }
            sizes[letter] = dim
        }
        guard Set(all).allSatisfy({ sizes[$0] != nil }) else { return nil }
        let batch = output.filter { left.contains($0) && right.contains($0) }
        let contracted = left.filter { right.contains($0) && !output.contains($0) }
        let leftFree = output.filter { left.contains($0) && !right.contains($0) }
        let rightFree = output.filter { right.contains($0) && !left.contains($0) }
        guard left.count == batch.count + contracted.count + leftFree.count,
              right.count == batch.count + contracted.count + rightFree.count else { return nil }
        func size(_ letters: [Character]) -> Int { letters.reduce(1) { $0 * (sizes[$1] ?? 1) } }
        let (batchSize, m, k, n) = (size(batch), size(leftFree), size(contracted), size(rightFree))
        let lhs = try Layout.transpose(a, (batch + leftFree + contracted).compactMap { left.firstIndex(of: $0) })
            .unsafeReshaped([batchSize, m, k])
        let rhs = try Layout.transpose(b, (batch + contracted + rightFree).compactMap { right.firstIndex(of: $0) })
            .unsafeReshaped([batchSize, k, n])
        let product = try LinearKernels.matmul(lhs, rhs)
        let produced = batch + leftFree + rightFree
        let shaped = product.unsafeReshaped(produced.map { sizes[$0] ?? 1 })
        return try Layout.transpose(shaped, output.compactMap { produced.firstIndex(of: $0) })
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("Einsum") { [try einsum($0)] }
    }
}
