import Foundation

/// Files and folders a command is writing, and child process groups it started, that must not
/// outlive it: the signal handler and every exit path call ``removeAll()``.
public enum TemporaryPaths {
    nonisolated(unsafe) private static var paths: Set<String> = []
    nonisolated(unsafe) private static var children: Set<Int32> = []
    private static let lock = NSLock()
    /// Held while removing: the interrupt handler and the thread that made a path may both be
    /// removing it, and two interleaved recursive removals can each stop at the other's deletion.
    private static let removal = NSLock()

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
        for path in current { removeNow(path) }
    }

    /// Removes a path (a folder with its contents) and forgets it; safe while the interrupt
    /// handler removes it too.
    public static func remove(_ url: URL) {
        removeNow(url.path)
        unregister(url)
    }

    /// Removes `path`, retrying for up to a second while it still exists: a child killed a moment
    /// ago may still finish a write into a folder being removed, which leaves it non-empty.
    private static func removeNow(_ path: String) {
        removal.lock()
        defer { removal.unlock() }
        for _ in 0..<50 {
            try? FileManager.default.removeItem(atPath: path)
            var status = stat()
            if lstat(path, &status) != 0 && errno == ENOENT { return }
            usleep(20_000)
        }
    }
}
