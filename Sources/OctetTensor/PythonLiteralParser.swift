/// A value in the Python literal subset NumPy writes in `.npy` headers.
indirect enum PythonLiteral: Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    case dictionary([String: PythonLiteral])

    var description: String {
        switch self {
        case .string(let text): "'\(text)'"
        case .integer(let value): "\(value)"
        case .bool(let value): value ? "True" : "False"
        case .none: "None"
        case .tuple(let items): "(" + items.map(\.description).joined(separator: ", ") + ")"
        case .list(let items): "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .dictionary: "{…}"
        }
    }
}

/// Parses the dictionary literal of a `.npy` header: strings, integers (with an optional `L`),
/// True/False/None, tuples, lists and nested dictionaries.
struct PythonLiteralParser {
    struct Failure: Error { let reason: String }

    /// Deepest nesting of tuples, lists and dictionaries accepted (NumPy writes depth 2).
    static let maximumDepth = 32

    private let characters: [Character]
    private var position = 0
    private var depth = 0

    init(text: String) { characters = Array(text) }

    mutating func parseDictionary() throws -> [String: PythonLiteral] {
        skipSpace()
        guard case .dictionary(let result) = try parseValue() else {
            throw Failure(reason: "expected a {…} dictionary")
        }
        return result
    }

    private mutating func skipSpace() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    private mutating func expect(_ character: Character) throws {
        skipSpace()
        guard position < characters.count, characters[position] == character else {
            throw Failure(reason: "expected '\(character)' at offset \(position)")
        }
        position += 1
    }

    private mutating func parseValue() throws -> PythonLiteral {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else {
            throw Failure(reason: "values nest deeper than \(Self.maximumDepth) levels (at offset \(position))")
        }
        skipSpace()
        guard position < characters.count else { throw Failure(reason: "header ends unexpectedly") }
        let character = characters[position]
        switch character {
        case "'", "\"": return .string(try parseString())
        case "(": return .tuple(try parseSequence(closing: ")"))
        case "[": return .list(try parseSequence(closing: "]"))
        case "{":
            position += 1
            var result: [String: PythonLiteral] = [:]
            while true {
                skipSpace()
                if position < characters.count, characters[position] == "}" { position += 1; return .dictionary(result) }
                skipSpace()
                guard position < characters.count, characters[position] == "'" || characters[position] == "\"" else {
                    throw Failure(reason: "expected a quoted key at offset \(position)")
                }
                let key = try parseString()
                try expect(":")
                result[key] = try parseValue()
                skipSpace()
                if position < characters.count, characters[position] == "," { position += 1 }
            }
        default:
            var word = ""
            while position < characters.count, characters[position].isLetter || characters[position].isNumber
                || characters[position] == "-"
            {
                word.append(characters[position])
                position += 1
            }
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default:
                let digits = word.hasSuffix("L") ? String(word.dropLast()) : word
                guard let value = Int(digits) else { throw Failure(reason: "unexpected '\(word.isEmpty ? String(character) : word)' at offset \(position)") }
                return .integer(value)
            }
        }
    }

    private mutating func parseString() throws -> String {
        let quote = characters[position]
        position += 1
        var result = ""
        while position < characters.count, characters[position] != quote {
            if characters[position] == "\\", position + 1 < characters.count { position += 1 }
            result.append(characters[position])
            position += 1
        }
        guard position < characters.count else { throw Failure(reason: "unterminated string") }
        position += 1
        return result
    }

    private mutating func parseSequence(closing: Character) throws -> [PythonLiteral] {
        position += 1
        var items: [PythonLiteral] = []
        while true {
            skipSpace()
            guard position < characters.count else { throw Failure(reason: "unterminated '\(closing)'") }
            if characters[position] == closing { position += 1; return items }
            items.append(try parseValue())
            skipSpace()
            if position < characters.count, characters[position] == "," { position += 1 }
        }
    }
}
