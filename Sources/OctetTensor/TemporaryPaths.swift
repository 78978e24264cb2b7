import Foundation

/// Files and folders a command is writing and must not leave behind if it is interrupted:
/// a signal handler calls ``removeAll()`` before the process exits.
public enum TemporaryPaths {
    nonisolated(unsafe) private static var paths: Set<String> = []
    private static let lock = NSLock()

    /// Registers a path to remove on interruption.
    public static func register(_ url: URL) {
        lock.lock()
        defer { lock.unlock() }
        paths.insert(url.path)
    }

    /// Forgets a path (it was renamed into place or removed).
    public static func unregister(_ url: URL) {
        lock.lock()
        defer { lock.unlock() }
        paths.remove(url.path)
    }

    /// Removes every registered path.
    public static func removeAll() {
        lock.lock()
        let current = paths
        paths.removeAll()
        lock.unlock()
        for path in current { try? FileManager.default.removeItem(atPath: path) }
    }
}
