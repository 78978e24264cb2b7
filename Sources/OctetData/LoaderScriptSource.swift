import Foundation
import OctetGraph

/// A Python data loader, as Polygraphy's `--data-loader-script file.py[:func]`: Octet starts
/// `python3` (or `$OCTET_PYTHON`), imports the script, calls `func` (default `load_data`) and
/// receives each yielded dict {input name: array} over a pipe.
///
/// Protocol on the child's stdout (the script's own prints go to stderr): per sample the bytes
/// `OCTS`, a little-endian u32 item count, then per item a u32 name length, the UTF-8 name, a
/// u64 length and that many bytes of `.npy` data; after the last sample `OCTE`.
public struct LoaderScriptSource: CalibrationSource {
    public let format = "data loader script"
    public let paths: [String]
    let script: URL
    let function: String
    /// Seconds to wait for the first sample and between samples before stopping the script.
    let timeout: Double

    /// Default of ``timeout``: generous for a script that imports a framework and opens files.
    public static let defaultTimeout: Double = 300

    /// - Parameters:
    ///   - specification: `path/to/script.py` or `path/to/script.py:function`.
    ///   - timeout: seconds to wait for the first sample and between samples.
    public init(specification: String, timeout: Double = LoaderScriptSource.defaultTimeout) throws {
        self.timeout = timeout
        let (path, function) = PythonScript.split(specification, defaultFunction: "load_data")
        script = URL(fileURLWithPath: path)
        self.function = function
        paths = [script.path]
        guard FileManager.default.isReadableFile(atPath: script.path) else {
            throw DataError.loaderScript(script: script.path, reason: "no such file")
        }
    }

    public var sampleCount: Int? { nil }

    public func stream(firstIndex: Int) throws -> SampleStream {
        try Stream(script: script, function: function, index: firstIndex, timeout: timeout)
    }

    /// The Python side of the protocol.
    static let driver = #"""
    import importlib.util, io, os, struct, sys
    real_stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # the script's prints must not mix with the data
    def fail(code, message):
        sys.stderr.write("OCTET-ERROR: " + message + "\n")
        sys.exit(code)
    try:
        import numpy as np
    except ImportError:
        fail(3, "numpy is not installed for " + sys.executable + " (pip install numpy)")
    script, function = sys.argv[1], sys.argv[2]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    spec = importlib.util.spec_from_file_location("octet_data_loader", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loader = getattr(module, function, None)
    if loader is None:
        fail(4, "the script defines no '" + function + "'")
    data = loader() if callable(loader) else loader
    for index, feed in enumerate(data):
        if not isinstance(feed, dict):
            fail(5, "sample %d is a %s, expected a dict {input name: array}" % (index, type(feed).__name__))
        items = []
        for name, value in feed.items():
            array = np.ascontiguousarray(np.asarray(value))
            if array.dtype == object or array.dtype.kind in "USV":
                fail(6, "sample %d, input '%s': %s arrays are not supported; yield numeric arrays" % (index, name, array.dtype))
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            items.append((str(name).encode(), buffer.getvalue()))
        real_stdout.write(b"OCTS" + struct.pack("<I", len(items)))
        for name, payload in items:
            real_stdout.write(struct.pack("<I", len(name)) + name + struct.pack("<Q", len(payload)) + payload)
        real_stdout.flush()
    real_stdout.write(b"OCTE")
    real_stdout.flush()
    """#

    /// Reads samples from a running loader process.
    final class Stream: SampleStream {
        private let child: ChildProcess
        private let script: URL
        private let driverFile: URL
        private let timeout: Double
        private var index: Int
        private var finished = false
        private var python: String { PythonScript.interpreter }

        init(script: URL, function: String, index: Int, timeout: Double) throws {
            self.script = script
            self.index = index
            self.timeout = timeout
            driverFile = FileManager.default.temporaryDirectory.appendingPathComponent("octet-loader-\(UUID().uuidString).py")
            TemporaryPaths.register(driverFile)
            do { try Data(LoaderScriptSource.driver.utf8).write(to: driverFile) } catch {
                TemporaryPaths.unregister(driverFile)
                throw DataError.loaderScript(script: script.path, reason: "cannot write its driver to \(driverFile.path): \(error.localizedDescription)")
            }
            let python = PythonScript.interpreter
            do { child = try ChildProcess(arguments: [python, driverFile.path, script.path, function]) } catch {
                try? FileManager.default.removeItem(at: driverFile)
                TemporaryPaths.unregister(driverFile)
                throw DataError.loaderScript(script: script.path, reason: PythonScript.startFailure(error, python: python))
            }
        }

        deinit { stop() }

        /// Kills the loader's process group and removes the driver file.
        private func stop() {
            child.killGroup()
            try? FileManager.default.removeItem(at: driverFile)
            TemporaryPaths.unregister(driverFile)
        }

        private func read(_ count: Int) throws -> Data {
            do { return try child.read(count, timeout: timeout) } catch ChildProcess.ReadFailure.timeout(let seconds) {
                stop()
                let what = index == 0 ? "its first sample" : "sample \(index)"
                throw DataError.loaderScript(
                    script: script.path,
                    reason: "sent nothing for \(Int(seconds)) s while Octet waited for \(what); it was stopped (raise --data-loader-timeout if it is just slow)")
            } catch {
                throw failure()
            }
        }

        private func integer(_ bytes: Int) throws -> Int {
            let data = try read(bytes)
            return data.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        }

        /// The error to report once the child stopped early: its own message, or its last lines.
        private func failure() -> DataError {
            let status = child.waitForExit(timeout: 2) ?? { child.killGroup(); return child.exitStatus() }()
            let text = child.errorText()
            stop()
            if status == 127 {
                return .loaderScript(script: script.path, reason: PythonScript.notFound(python))
            }
            if let line = text.split(separator: "\n").last(where: { $0.hasPrefix("OCTET-ERROR: ") }) {
                return .loaderScript(script: script.path, reason: String(line.dropFirst(13)))
            }
            let tail = text.split(separator: "\n").suffix(6).joined(separator: "\n    ")
            return .loaderScript(script: script.path, reason: "python exited with status \(status) before finishing:\n    \(tail)")
        }

        func next() throws -> RawSample? {
            guard !finished else { return nil }
            let marker = try read(4)
            if marker == Data("OCTE".utf8) {
                finished = true
                stop()
                return nil
            }
            guard marker == Data("OCTS".utf8) else {
                stop()
                throw DataError.loaderScript(script: script.path, reason: "the data stream is corrupt (did the script write to the real stdout?)")
            }
            let count = try integer(4)
            var values: [String: Tensor] = [:]
            var files: [String: String] = [:]
            for _ in 0..<count {
                let name = String(decoding: try read(try integer(4)), as: UTF8.self)
                let length = try integer(8)
                if let refusal = MemoryBudget.refusal(length) {
                    stop()
                    throw DataError.loaderScript(script: script.path, reason: "sample \(index), input '\(name)': the array \(refusal)")
                }
                let payload = try read(length)
                values[name] = try NPYFile.decode(payload, file: "\(script.path) sample \(index) '\(name)'")
                files[name] = script.path
            }
            defer { index += 1 }
            return RawSample(values: values, files: files, index: index)
        }
    }
}
