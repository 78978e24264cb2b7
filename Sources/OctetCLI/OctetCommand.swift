import ArgumentParser
import Foundation
import OctetGraph
import OctetQuant
import OctetRuntime

/// The `octet` command: INT8 post-training quantization for ONNX models.
public struct OctetCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "octet",
        abstract: "Post-training INT8 quantization for ONNX models with any number of inputs.",
        version: OctetVersion.current,
        subcommands: [DemoCommand.self, InspectCommand.self, RunCommand.self, CalibrateCommand.self, ConvertCommand.self, CompareCommand.self,
                      DataCommand.self]
    )

    public init() {}

    /// Parses the process arguments, runs the chosen subcommand and exits: 0 on success,
    /// 64 for bad flags, 1 with an `Error: …` line on stderr for any other failure.
    /// - Parameter arguments: arguments without the program name; `nil` reads the process's.
    public static func runMain(_ arguments: [String]? = nil) -> Never {
        let command: ParsableCommand
        do { command = try parseAsRoot(arguments) } catch { exit(withError: error) }
        Interruption.install()
        AllocatorTuning.apply()
        // Every way out removes temporary files and kills loader processes the command started.
        func finish(_ code: Int32) -> Never {
            TemporaryPaths.removeAll()
            Foundation.exit(code)
        }
        do {
            var runnable = command
            try runnable.run()
            finish(0)
        } catch let error as RuntimeError {
            // Kernel and planning errors name a node; the file it belongs to comes first.
            Interruption.waitIfInterrupted()
            let file = (command as? ModelFileCommand)?.modelFile.map { "\($0): " } ?? ""
            Console.error(file + (error.errorDescription ?? "\(error)"))
            finish(1)
        } catch let error as any UserFacingError {
            Interruption.waitIfInterrupted()
            Console.error(error.localizedDescription)
            finish(1)
        } catch {
            Interruption.waitIfInterrupted()
            TemporaryPaths.removeAll()
            exit(withError: error)
        }
    }
}

/// A command about one model file, named first in errors the engine raises while running it.
protocol ModelFileCommand {
    /// The model path as the user gave it, when the command has one.
    var modelFile: String? { get }
}

extension CalibrateCommand: ModelFileCommand { var modelFile: String? { model } }
extension ConvertCommand: ModelFileCommand { var modelFile: String? { model } }
extension DataCheckCommand: ModelFileCommand { var modelFile: String? { model } }
extension InspectCommand: ModelFileCommand { var modelFile: String? { model } }
extension RunCommand: ModelFileCommand { var modelFile: String? { model } }
extension CompareCommand: ModelFileCommand { var modelFile: String? { model } }

/// Errors whose message is written for users: printed as `Error: …`, exit code 1.
protocol UserFacingError: LocalizedError {}
extension ModelError: UserFacingError {}
extension NumpyError: UserFacingError {}
extension InputFileError: UserFacingError {}
extension TensorError: UserFacingError {}
extension CLIError: UserFacingError {}
extension RuntimeError: UserFacingError {}
extension StatsFileError: UserFacingError {}
extension CacheError: UserFacingError {}
extension StatisticsError: UserFacingError {}

/// Failures of the command-line layer itself (paths, option combinations found at run time).
enum CLIError: LocalizedError {
    /// The output would replace one of the command's inputs.
    case wouldOverwriteInput(output: String, input: String)
    /// The folder an output goes into does not exist.
    case missingOutputFolder(output: String)
    /// Anything else, already phrased for the user.
    case message(String)

    var errorDescription: String? {
        switch self {
        case let .wouldOverwriteInput(output, input):
            "\(output): refusing to overwrite the input \(input); choose another output path"
        case let .missingOutputFolder(output):
            "\(output): the output folder \(URL(fileURLWithPath: output).deletingLastPathComponent().path) does not exist"
        case let .message(text): text
        }
    }
}

/// Writing to stdout and stderr.
enum Console {
    /// Longest line printed on stderr: names and values from a hostile file (a 100,000-character
    /// input name, a million-entry attribute) are cut with "…" instead of flooding logs.
    static let longestLine = 2_000

    /// `message` with every line cut to ``longestLine`` characters.
    static func bounded(_ message: String) -> String {
        message.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.count <= longestLine ? String(line) : "\(line.prefix(longestLine))… (\(line.count - longestLine) more characters)"
        }.joined(separator: "\n")
    }

    /// Prints an `Error: …` line to stderr.
    static func error(_ message: String) { FileHandle.standardError.write(Data("Error: \(bounded(message))\n".utf8)) }
    /// Prints a command's result on stdout: a stable JSON document (sorted keys) or its text form.
    static func printResult<T: Encodable>(_ value: T, json: Bool, text: () -> String) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(value), as: UTF8.self))
        } else {
            print(text(), terminator: "")
        }
    }

    /// Prints a `note: …` line to stderr.
    static func note(_ message: String) { FileHandle.standardError.write(Data("note: \(bounded(message))\n".utf8)) }

    /// Prints a `warning: …` line to stderr.
    static func warning(_ message: String) { FileHandle.standardError.write(Data("warning: \(bounded(message))\n".utf8)) }
}

/// Checks on output paths made before anything is written.
enum OutputPath {
    /// The canonical path of `url` (symbolic links resolved).
    static func canonical(_ url: URL) -> String { url.resolvingSymlinksInPath().standardizedFileURL.path }

    /// Throws unless `output`'s folder exists and `output` is none of `inputs`.
    /// - Parameters:
    ///   - output: the file about to be written.
    ///   - inputs: files the command reads.
    static func check(_ output: URL, notAnyOf inputs: [URL]) throws {
        var isFolder: ObjCBool = false
        let folder = output.deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw CLIError.missingOutputFolder(output: output.path)
        }
        let target = canonical(output)
        if let input = inputs.first(where: { canonical($0) == target }) {
            throw CLIError.wouldOverwriteInput(output: output.path, input: input.path)
        }
        // Outputs replace files only: never a device node, FIFO, socket or folder (as root,
        // renaming over /dev/null would replace the device).
        if let type = (try? FileManager.default.attributesOfItem(atPath: target))?[.type] as? FileAttributeType, type != .typeRegular {
            throw CLIError.message("\(output.path): exists and is not a regular file; Octet writes its outputs to new or regular files only")
        }
    }
}

/// A one-line progress display on stderr, shown only when stderr is a terminal or `--progress`
/// is given; redrawn at most ten times a second and erased when done.
final class Progress {
    private let enabled: Bool
    private var lastDraw: UInt64 = 0
    private var drawn = false

    /// - Parameter forced: show progress even when stderr is not a terminal.
    init(forced: Bool) { enabled = forced || isatty(STDERR_FILENO) != 0 }

    /// Shows `text` (rate-limited).
    func update(_ text: @autoclosure () -> String) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        drawn = true
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text())".utf8))
    }

    /// Erases the line.
    func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }
}

/// Human-readable byte counts (binary units).
func formatBytes(_ count: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
}

/// Ctrl-C and termination: temporary files (half-written outputs, loader-script drivers) are removed
/// before the process exits with 130 (SIGINT) or 143 (SIGTERM).
enum Interruption {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    nonisolated(unsafe) private static var interrupted = false
    private static let lock = NSLock()

    /// Called by a failing command: when the failure comes from an interruption (its files were
    /// removed under it), the signal handler is about to exit, so wait for it.
    static func waitIfInterrupted() {
        lock.lock()
        let waiting = interrupted
        lock.unlock()
        while waiting { sleep(1) }
    }

    static func install() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                lock.lock()
                interrupted = true
                lock.unlock()
                TemporaryPaths.removeAll()
                FileHandle.standardError.write(Data("\ninterrupted: no output was written\n".utf8))
                Foundation.exit(128 + signalNumber)
            }
            source.resume()
            sources.append(source)
        }
    }
}
