import Foundation

/// What the Python scripts given on the command line share (data loaders, scoring scripts):
/// the `path.py[:function]` form and the interpreter they run under.
enum PythonScript {
    /// `$OCTET_PYTHON`, else `python3` from `PATH`.
    static var interpreter: String { ProcessInfo.processInfo.environment["OCTET_PYTHON"] ?? "python3" }

    /// Splits `path/to/script.py:function`; a specification without a function gets `defaultFunction`.
    static func split(_ specification: String, defaultFunction: String) -> (path: String, function: String) {
        if let colon = specification.lastIndex(of: ":"), specification[..<colon].hasSuffix(".py") {
            let function = specification[specification.index(after: colon)...]
            if !function.isEmpty, function.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                return (String(specification[..<colon]), String(function))
            }
        }
        return (specification, defaultFunction)
    }

    /// Why the interpreter could not be started, for an error message.
    static func startFailure(_ error: Error, python: String) -> String {
        (error as? POSIXError)?.code == .ENOENT ? notFound(python) : "cannot start \(python): \(error.localizedDescription)"
    }

    /// The message for an interpreter that is not installed (also exit status 127).
    static func notFound(_ python: String) -> String {
        "\(python) was not found; install Python 3 with numpy, or set OCTET_PYTHON"
    }
}
