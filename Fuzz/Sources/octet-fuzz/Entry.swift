import Foundation

/// The target chosen on the command line (`octet-fuzz <target> [libFuzzer options] [corpus…]`).
nonisolated(unsafe) var selectedTarget: @Sendable (Data) -> Void = { _ in }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selectedTarget(data.map { Data(bytes: $0, count: size) } ?? Data())
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@main
struct FuzzMain {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2, let target = FuzzTargets.all[arguments[1]] else {
            let names = FuzzTargets.all.keys.sorted().joined(separator: ", ")
            FileHandle.standardError.write(Data("usage: octet-fuzz <target> [libFuzzer options] [corpus folders]\ntargets: \(names)\n".utf8))
            exit(2)
        }
        selectedTarget = target
        // Kernels refuse outputs beyond this instead of spending the run on a legitimately huge model.
        setenv("OCTET_MEMORY_LIMIT", "256M", 0)
        // libFuzzer sees the program name and the arguments after the target name.
        var argv: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) } + [nil]
        var argc = CInt(argv.count - 1)
        argv.withUnsafeMutableBufferPointer { buffer in
            var base = buffer.baseAddress
            exit(runDriver(&argc, &base, fuzzTestOneInput))
        }
    }
}
