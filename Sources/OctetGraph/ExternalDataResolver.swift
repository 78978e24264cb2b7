import Foundation

/// Finds and reads external tensor data for a model, confined to the model's folder.
final class ExternalDataResolver {
    private let modelFile: String
    private let folder: URL?
    private var mapped: [String: Data] = [:]

    /// - Parameters:
    ///   - modelFile: the model's path, for messages.
    ///   - folder: the model's folder, or `nil` when the model was not read from a file.
    init(modelFile: String, folder: URL?) {
        self.modelFile = modelFile
        self.folder = folder
    }

    /// The bytes of `reference`, checked to be `expectedLength` long.
    func read(_ reference: ExternalDataReference, declaredLength: Bool, tensor: String, expectedLength: Int) throws -> Data {
        func failure(_ reason: String) -> ModelError {
            .externalData(file: modelFile, tensor: tensor, location: reference.location, reason: reason)
        }
        let file = try contents(of: reference.location, tensor: tensor)
        let length = declaredLength ? reference.length : file.count - reference.offset
        guard reference.offset >= 0, length >= 0, reference.offset <= file.count, length <= file.count - reference.offset else {
            throw failure("offset \(reference.offset) + length \(length) runs past the end of the \(file.count)-byte file")
        }
        guard length == expectedLength else {
            throw failure("holds \(length) bytes but the tensor's type and shape need \(expectedLength)")
        }
        let start = file.startIndex + reference.offset
        return file.subdata(in: start..<start + length)
    }

    private func contents(of location: String, tensor: String) throws -> Data {
        if let data = mapped[location] { return data }
        let url = try Self.resolve(location, in: folder, modelFile: modelFile, tensor: tensor)
        try InputFileError.requireRegular(url)
        do {
            let data = try Data(contentsOf: url, options: .alwaysMapped)
            mapped[location] = data
            return data
        } catch {
            throw ModelError.externalData(file: modelFile, tensor: tensor, location: location, reason: "file is missing or unreadable")
        }
    }

    /// The file `location` names, refusing any that is absolute, climbs with `..`, or
    /// resolves (through symbolic links) outside `folder`.
    static func resolve(_ location: String, in folder: URL?, modelFile: String, tensor: String) throws -> URL {
        func refuse(_ reason: String) -> ModelError {
            .externalData(file: modelFile, tensor: tensor, location: location, reason: reason)
        }
        guard let folder else { throw refuse("the model was not loaded from a file, so its folder is unknown") }
        guard !location.isEmpty else { throw refuse("empty location") }
        let isWindowsAbsolute = location.count >= 2 && location.dropFirst().first == ":"
        guard !location.hasPrefix("/"), !location.hasPrefix("\\"), !isWindowsAbsolute else {
            throw refuse("absolute paths are refused; external data must lie in the model's folder")
        }
        let components = location.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        guard !components.contains("..") else {
            throw refuse("paths with '..' are refused; external data must lie in the model's folder")
        }
        let candidate = folder.appendingPathComponent(location)
        let realFolder = folder.resolvingSymlinksInPath().standardizedFileURL.path
        let realFile = candidate.resolvingSymlinksInPath().standardizedFileURL.path
        guard realFile.hasPrefix(realFolder.hasSuffix("/") ? realFolder : realFolder + "/") else {
            throw refuse("resolves to \(realFile), outside the model's folder \(realFolder)")
        }
        return candidate
    }
}
