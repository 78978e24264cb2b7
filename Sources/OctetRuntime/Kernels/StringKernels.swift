import Foundation
import OctetGraph

/// StringConcat, StringSplit, StringNormalizer, RegexFullMatch and TfIdfVectorizer.
enum StringKernels {
    /// The input's strings as Swift strings (invalid UTF-8 repaired).
    static func strings(_ tensor: Tensor, name: String) throws -> [String] {
        guard tensor.dtype == .string else { throw KernelError("\(name) must be a string tensor, got \(tensor.dtype)") }
        return tensor.strings.map { String(decoding: $0, as: UTF8.self) }
    }

    static func tensor(_ shape: [Int], _ values: [String]) -> Tensor {
        Tensor(shape: shape, strings: values.map { Data($0.utf8) })
    }

    static func concat(_ context: KernelContext) throws -> Tensor {
        let (a, b) = (try context.input(0), try context.input(1))
        let (x, y) = (try strings(a, name: "X"), try strings(b, name: "Y"))
        let shape = try Broadcast.shape([a.shape, b.shape])
        let (aStrides, bStrides, outStrides) = (Broadcast.strides(of: a.shape, in: shape), Broadcast.strides(of: b.shape, in: shape),
                                                Layout.strides(shape))
        let values = (0..<shape.reduce(1, *)).map { index -> String in
            let position = Layout.coordinates(index, strides: outStrides)
            let i = zip(position, aStrides).reduce(0) { $0 + $1.0 * $1.1 }
            let j = zip(position, bStrides).reduce(0) { $0 + $1.0 * $1.1 }
            return x[i] + y[j]
        }
        return tensor(shape, values)
    }

    /// Splits each string by `delimiter` (runs of whitespace when empty or absent, as Python's
    /// `str.split()`), at most `maxsplit` times; pads with "" to the longest; second output the counts.
    static func split(_ context: KernelContext) throws -> [Tensor] {
        let input = try context.input(0)
        let values = try strings(input, name: "X")
        let delimiter = context.string("delimiter", "")
        let limit = context.has("maxsplit") ? context.int("maxsplit", 0) : Int.max
        let parts = values.map { value -> [String] in
            if delimiter.isEmpty {
                var words: [String] = []
                var rest = Substring(value)
                while true {
                    rest = rest.drop { $0.isWhitespace }
                    if rest.isEmpty { break }
                    if words.count == limit { words.append(String(rest)); break }
                    let word = rest.prefix { !$0.isWhitespace }
                    words.append(String(word))
                    rest = rest.dropFirst(word.count)
                }
                return words
            }
            var result: [String] = []
            var rest = Substring(value)
            while result.count < limit, let range = rest.range(of: delimiter) {
                result.append(String(rest[..<range.lowerBound]))
                rest = rest[range.upperBound...]
            }
            return result + [String(rest)]
        }
        let width = parts.map(\.count).max() ?? 0
        let padded = parts.flatMap { $0 + Array(repeating: "", count: width - $0.count) }
        return [tensor(input.shape + [width], padded), Tensor(shape: input.shape, scalars: parts.map { Int64($0.count) })]
    }

    /// Removes stop words (whole elements; case-insensitively unless `is_case_sensitive`) and
    /// changes case; input [C] or [1, C].
    static func normalize(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        guard input.rank == 1 || (input.rank == 2 && input.shape[0] == 1) else {
            throw KernelError("expects a string tensor of shape [C] or [1, C], got \(input.shape)")
        }
        let action = context.string("case_change_action", "NONE")
        guard ["NONE", "LOWER", "UPPER"].contains(action) else {
            throw KernelError("case_change_action \"\(action)\" is not NONE, LOWER or UPPER")
        }
        let sensitive = context.int("is_case_sensitive", 0) != 0
        let stops = context.strings("stopwords") ?? []
        let stopSet = Set(sensitive ? stops : stops.map { $0.lowercased() })
        let kept = try strings(input, name: "X").filter { !stopSet.contains(sensitive ? $0 : $0.lowercased()) }.map { value in
            action == "LOWER" ? value.lowercased() : action == "UPPER" ? value.uppercased() : value
        }
        let values = kept.isEmpty ? [""] : kept
        return tensor(input.rank == 1 ? [values.count] : [1, values.count], values)
    }

    static func regexFullMatch(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        let pattern = context.string("pattern", "")
        let expression: NSRegularExpression
        do {
            expression = try NSRegularExpression(pattern: "^(?:" + pattern + ")$")
        } catch {
            throw KernelError("pattern \"\(pattern)\" is not a valid regular expression")
        }
        let matches = try strings(input, name: "X").map { value in
            expression.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil
        }
        return Tensor(shape: input.shape, scalars: matches)
    }

    /// TfIdfVectorizer: counts the pool's n-grams (skip-grams up to `max_skip_count`) in each row
    /// and weighs them (TF, IDF or TFIDF); output [C] or [B, C] float32.
    static func tfIdf(_ context: KernelContext) throws -> Tensor {
        let input = try context.input(0)
        guard input.rank == 1 || input.rank == 2 else { throw KernelError("expects a 1-D or 2-D input, got \(input.shape)") }
        let tokens: [String] = input.dtype == .string ? try strings(input, name: "X") : try input.integers().map { "\($0)" }
        let pool: [String] = context.strings("pool_strings") ?? (context.ints("pool_int64s") ?? []).map { "\($0)" }
        guard let counts = context.ints("ngram_counts"), let indexes = context.ints("ngram_indexes"), !indexes.isEmpty,
              indexes.allSatisfy({ $0 >= 0 }) else {
            throw KernelError("needs ngram_counts, ngram_indexes (non-negative) and a pool")
        }
        let (minLength, maxLength, maxSkip) = (context.int("min_gram_length", 1), context.int("max_gram_length", 1),
                                               context.int("max_skip_count", 0))
        let mode = context.string("mode", "TF")
        guard ["TF", "IDF", "TFIDF"].contains(mode), minLength >= 1, maxLength >= minLength, maxSkip >= 0 else {
            throw KernelError("mode must be TF, IDF or TFIDF and 1 ≤ min_gram_length ≤ max_gram_length, max_skip_count ≥ 0")
        }
        // n-grams of the allowed lengths by id (counting every pool n-gram), and all their prefixes.
        var ids: [[String]: Int] = [:]
        var prefixes: Set<[String]> = []
        var nextID = 0
        for (position, start) in counts.enumerated() {
            let size = position + 1
            let end = position + 1 < counts.count ? counts[position + 1] : pool.count
            guard start >= 0, start <= end, end <= pool.count else { throw KernelError("ngram_counts do not fit the pool") }
            for gram in stride(from: start, to: end - size + 1, by: size) {
                if size >= minLength && size <= maxLength {
                    let words = Array(pool[gram..<gram + size])
                    ids[words] = nextID
                    for length in 1...size { prefixes.insert(Array(words[..<length])) }
                }
                nextID += 1
            }
        }
        guard nextID <= indexes.count else { throw KernelError("ngram_indexes has \(indexes.count) entries for \(nextID) n-grams") }
        let width = (indexes.max() ?? 0) + 1
        try Layout.check([input.rank == 2 ? input.shape[0] : 1, width], .float64)
        let rows = input.rank == 2 ? input.shape[0] : 1
        let rowSize = input.rank == 2 ? input.shape[1] : input.elementCount
        var frequencies = [Double](repeating: 0, count: rows * width)
        for row in 0..<rows {
            let items = Array(tokens[row * rowSize..<(row + 1) * rowSize])
            var startLength = minLength
            // Skips past the row's length find nothing more.
            for skip in 1...(Swift.min(maxSkip, rowSize) + 1) {
                for start in 0..<items.count where start + skip * (startLength - 1) < items.count {
                    var gram: [String] = []
                    var item = start
                    while gram.count < maxLength, item < items.count {
                        gram.append(items[item])
                        guard prefixes.contains(gram) else { break }
                        if gram.count >= startLength, let id = ids[gram] { frequencies[row * width + indexes[id]] += 1 }
                        item += skip
                    }
                }
                if startLength == 1 {
                    startLength = 2
                    if startLength > maxLength { break }
                }
            }
        }
        let weights = (context.floats("weights") ?? []).map(Double.init)
        let values = frequencies.indices.map { i -> Double in
            let f = frequencies[i]
            let w = weights.isEmpty ? nil : weights[(i % width) % weights.count]
            switch mode {
            case "IDF": return f > 0 ? w ?? 1 : 0
            case "TFIDF": return (w ?? 1) * f
            default: return f
            }
        }
        return try Tensor(shape: input.rank == 2 ? [rows, width] : [width], scalars: values).converted(to: .float32)
    }

    static func register(in registry: inout OpRegistry) {
        registry.register("StringConcat") { [try concat($0)] }
        registry.register("StringSplit") { try split($0) }
        registry.register("StringNormalizer") { [try normalize($0)] }
        registry.register("RegexFullMatch") { [try regexFullMatch($0)] }
        registry.register("TfIdfVectorizer") { [try tfIdf($0)] }
    }
}
