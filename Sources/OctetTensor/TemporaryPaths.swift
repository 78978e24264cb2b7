import Foundation

/// Files and folders a command is writing, and child process groups it started, that must not
/// outlive it: the signal handler and every exit path call ``removeAll()``.
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

    /// Registers a child's process group (its leader's id) to kill on interruption or exit.
    public static func register(processGroup id: Int32) {
        lock.lock()
        defer { lock.unlock() }
        children.insert(id)
    }

    /// Forgets a process group (it ended or was killed).
    public static func unregister(processGroup id: Int32) {
        lock.lock()
        defer { lock.unlock() }
        children.remove(id)
    }

    /// Kills every registered process group (SIGKILL: a loader script may ignore SIGTERM) and
    /// removes every registered path. Called on interruption and before every exit.
    public static func removeAll() {
        lock.lock()
        let current = paths
        let running = children
        paths.removeAll()
        children.removeAll()
        lock.unlock()
        for id in running where id > 0 { kill(-id, SIGKILL) }
        for path in current { try? FileManager.default.removeItem(atPath: path) }
    }
}
