import Foundation

/// Files and folders a command is writing, and child processes it started, that must not
/// outlive it if it is interrupted: a signal handler calls ``removeAll()`` before the process
/// exits.
public enum TemporaryPaths {
    nonisolated(unsafe) private static var paths: Set<String> = []
    nonisolated(unsafe) private static var children: Set<Int32> = []
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

    /// Registers a child process to terminate on interruption.
    public static func register(process id: Int32) {
        lock.lock()
        defer { lock.unlock() }
        children.insert(id)
    }

    /// Forgets a child process (it ended or was terminated).
    public static func unregister(process id: Int32) {
        lock.lock()
        defer { lock.unlock() }
        children.remove(id)
    }

    /// Terminates every registered child process and removes every registered path.
    public static func removeAll() {
        lock.lock()
        let current = paths
        let running = children
        paths.removeAll()
        children.removeAll()
        lock.unlock()
        for id in running { kill(id, SIGTERM) }
        for path in current { try? FileManager.default.removeItem(atPath: path) }
    }
}
