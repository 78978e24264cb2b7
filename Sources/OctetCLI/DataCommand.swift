import ArgumentParser
import Foundation
import OctetTensor

/// `octet data`: work with calibration and input data files.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Work with calibration and input data files.",
        subcommands: [DataCheckCommand.self, DataConvertCommand.self]
    )
}

/// `octet data convert`: gather arrays from `.npy` / `.npz` files into one `.npz` or `.npy`.
struct DataConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Combine NumPy arrays from .npy and .npz files into one .npz (or a single .npy).",
        discussion: """
            Each .npz contributes all of its arrays under their own names; each .npy contributes \
            one array named after its file (without .npy). Names must not repeat. An output \
            ending in .npy takes exactly one array.
            """
    )

    @Argument(help: "Input .npy and .npz files.")
    var inputs: [String]

    @Option(name: [.short, .long], help: "Output file: .npz, or .npy for a single array.")
    var output: String

    @Flag(help: "Deflate the .npz members, like numpy.savez_compressed.")
    var compressed = false

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("Give at least one input file.") }
        if !output.hasSuffix(".npz") && !output.hasSuffix(".npy") {
            throw ValidationError("The output must end in .npz or .npy, got '\(output)'.")
        }
    }

    func run() throws {
        let inputURLs = inputs.map { URL(fileURLWithPath: $0) }
        let destination = URL(fileURLWithPath: output)
        try OutputPath.check(destination, notAnyOf: inputURLs)
        var arrays: [(key: String, tensor: Tensor)] = []
        var origin: [String: String] = [:]
        for url in inputURLs {
            let found: [(key: String, tensor: Tensor)]
            if url.pathExtension == "npz" {
                found = try NPZArchive.readAll(url)
            } else if url.pathExtension == "npy" {
                found = [(url.deletingPathExtension().lastPathComponent, try NPYFile.read(url))]
            } else {
                throw CLIError.message("\(url.path): not a .npy or .npz file")
            }
            for entry in found {
                if let first = origin[entry.key] {
                    throw CLIError.message("\(url.path): array '\(entry.key)' is also in \(first); names must be unique")
                }
                origin[entry.key] = url.path
                arrays.append(entry)
            }
        }
        if output.hasSuffix(".npy") {
            guard arrays.count == 1, let only = arrays.first else {
                throw CLIError.message("\(output): a .npy file holds one array, but the inputs have \(arrays.count)")
            }
            try NPYFile.write(only.tensor, to: destination)
        } else {
            try NPZArchive.write(arrays, to: destination, compressed: compressed)
        }
        print("Wrote \(output) (\(arrays.count) array\(arrays.count == 1 ? "" : "s"))")
    }
}
