import Foundation

/// Writes files so that readers never see a half-written one: data goes to a temporary file in
/// the destination folder, which is then renamed over the destination.
public enum AtomicFile {
    /// Writes `data` to `url` atomically.
    /// - Parameters:
    ///   - data: the complete contents.
    ///   - url: destination; its folder must exist.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { temporary in try data.write(to: temporary) }
    }

    /// Calls `produce` with a temporary path beside `url`, then renames it to `url`; on error
    /// the temporary file is removed and `url` is left as it was.
    /// - Parameters:
    ///   - url: destination; its folder must exist.
    ///   - produce: writes the complete file at the URL it is given.
    public static func write(to url: URL, _ produce: (URL) throws -> Void) throws {
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString.prefix(8)).tmp")
        TemporaryPaths.register(temporary)
        defer { TemporaryPaths.unregister(temporary) }
        do {
            try produce(temporary)
            if rename(temporary.path, url.path) != 0 {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path, NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}
