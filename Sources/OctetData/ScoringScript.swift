import Foundation
import OctetTensor

/// A user's task metric, as `--target-metric script.py[:function]`: Octet saves a model's
/// outputs, one `.npz` per evaluation sample (keys: output names), in a folder, then starts
/// `python3` (or `$OCTET_PYTHON`), imports the script and calls `function` (default `score`)
/// with the list of per-sample dicts {output name: array}, in sample order. The function returns
/// one number, higher is better (an accuracy, an mAP, a negative error).
public struct ScoringScript: Sendable {
    /// The script's path.
    public let script: URL
    /// The function called.
    public let function: String

    /// What went wrong running a scoring script.
    public struct Failure: LocalizedError {
        public let script: String
        public let reason: String
        public var errorDescription: String? { "\(script): \(reason)" }
    }

    /// - Parameter specification: `path/to/script.py` or `path/to/script.py:function`.
    /// - Throws: ``Failure`` when the file cannot be read.
    public init(specification: String) throws {
        let (path, function) = PythonScript.split(specification, defaultFunction: "score")
        script = URL(fileURLWithPath: path)
        self.function = function
        guard FileManager.default.isReadableFile(atPath: script.path) else { throw Failure(script: path, reason: "no such file") }
    }

    /// Whether `--target-metric`'s value names a script rather than a built-in metric.
    public static func isScript(_ specification: String) -> Bool {
        specification.hasSuffix(".py") || specification.contains(".py:")
    }

    /// The Python side: loads the saved outputs, calls the function, writes the score.
    static let driver = #"""
    import importlib.util, json, math, os, sys
    os.dup2(2, 1)  # nothing reads stdout: prints, even os.write(1, …), go to stderr
    sys.stdout = sys.stderr  # only the score file carries the result
    def fail(message):
        sys.stderr.write("OCTET-ERROR: " + message + "\n")
        sys.exit(3)
    try:
        import numpy as np
    except ImportError:
        fail("numpy is not installed for " + sys.executable + " (pip install numpy)")
    script, function, folder, result = sys.argv[1:5]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    spec = importlib.util.spec_from_file_location("octet_scoring", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    scorer = getattr(module, function, None)
    if not callable(scorer):
        fail("the script defines no function '" + function + "'")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".npz"))
    outputs = []
    for name in names:
        with np.load(os.path.join(folder, name), allow_pickle=False) as archive:
            outputs.append({key: archive[key] for key in archive.files})
    value = scorer(outputs)
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        fail("'%s' returned %r; return one number (higher is better)" % (function, value))
    if not math.isfinite(value):
        fail("'%s' returned %r; return a finite number" % (function, value))
    with open(result, "w") as handle:
        json.dump({"score": value}, handle)
    """#

    /// Calls the function on the outputs saved in `folder` (`sample_000000.npz`, …).
    /// - Parameter timeout: seconds the script may take.
    /// - Returns: the score.
    /// - Throws: ``Failure`` with the script's own message, or its last lines.
    public func score(folder: URL, timeout: Double = 600) throws -> Double {
        let python = PythonScript.interpreter
        let driverFile = folder.appendingPathComponent("octet-score-driver.py")
        let resultFile = folder.appendingPathComponent("octet-score.json")
        do { try Data(Self.driver.utf8).write(to: driverFile) } catch {
            throw Failure(script: script.path, reason: "cannot write its driver to \(driverFile.path): \(error.localizedDescription)")
        }
        defer {
            try? FileManager.default.removeItem(at: driverFile)
            try? FileManager.default.removeItem(at: resultFile)
        }
        let child: ChildProcess
        do { child = try ChildProcess(arguments: [python, driverFile.path, script.path, function, folder.path, resultFile.path]) } catch {
            throw Failure(script: script.path, reason: PythonScript.startFailure(error, python: python))
        }
        defer { child.killGroup() }
        guard let status = child.waitForExit(timeout: timeout) else {
            throw Failure(script: script.path, reason: "did not return a score within \(Int(timeout)) s; it was stopped")
        }
        let text = child.errorText()
        if let line = text.split(separator: "\n").last(where: { $0.hasPrefix("OCTET-ERROR: ") }) {
            throw Failure(script: script.path, reason: String(line.dropFirst(13)))
        }
        guard status == 0 else {
            if status == 127 { throw Failure(script: script.path, reason: PythonScript.notFound(python)) }
            let tail = text.split(separator: "\n").suffix(6).joined(separator: "\n    ")
            throw Failure(script: script.path, reason: "python exited with status \(status):\n    \(tail)")
        }
        struct Result: Decodable { let score: Double }
        guard let data = try? Data(contentsOf: resultFile), let result = try? JSONDecoder().decode(Result.self, from: data) else {
            throw Failure(script: script.path, reason: "returned no score")
        }
        return result.score
    }
}
