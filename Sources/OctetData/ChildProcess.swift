import Foundation
import OctetTensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process in its own process group, read through pipes with timeouts. Killing it kills
/// the whole group (a loader script's own helpers included); SIGINT, SIGTERM and SIGPIPE are
/// reset to their defaults in the child (Octet itself handles them). Registered with
/// ``TemporaryPaths`` so an interrupted or failing Octet takes the group down with it.
final class ChildProcess {
    /// The child's process id, also its process group id.
    let pid: pid_t
    private let output: Int32
    private let errorCollector: DescriptorCollector

    /// A timed-out or failed read.
    enum ReadFailure: Error {
        /// Nothing arrived for `seconds`.
        case timeout(seconds: Double)
        /// The pipe closed (the child exited or closed its stdout).
        case closed
    }

    /// Starts `arguments[0]` (looked up in `PATH`) with stdin from /dev/null.
    /// - Throws: the `errno` description when it cannot be started.
    init(arguments: [String]) throws {
        var outputPipe: [Int32] = [0, 0]
        var errorPipe: [Int32] = [0, 0]
        guard pipe(&outputPipe) == 0, pipe(&errorPipe) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)
        for descriptor in outputPipe + errorPipe { posix_spawn_file_actions_addclose(&actions, descriptor) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signalNumber in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, signalNumber) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let status = posix_spawnp(&child, arguments[0], &actions, &attributes, argv, environ)
        close(outputPipe[1])
        close(errorPipe[1])
        guard status == 0 else {
            close(outputPipe[0])
            close(errorPipe[0])
            throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EIO)
        }
        pid = child
        output = outputPipe[0]
        errorCollector = DescriptorCollector(errorPipe[0])
        TemporaryPaths.register(processGroup: child)
    }

    deinit {
        killGroup()
        close(output)
    }

    /// Exactly `count` bytes of the child's stdout, waiting at most `timeout` seconds for each piece.
    func read(_ count: Int, timeout: Double) throws -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: min(max(count, 1), 1 << 20))
        while data.count < count {
            var poller = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(clamping: Int((timeout * 1000).rounded(.up))))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { throw ReadFailure.timeout(seconds: timeout) }
            let got = buffer.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, min(count - data.count, $0.count)) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw ReadFailure.closed }
            data.append(contentsOf: buffer[..<got])
        }
        return data
    }

    private var killed = false

    /// Kills the child's whole process group (SIGKILL) and reaps the child; idempotent (once the
    /// group is gone its id may be reused, so it is signalled only the first time).
    func killGroup() {
        guard !killed else { return }
        killed = true
        kill(-pid, SIGKILL)
        _ = exitStatus()
        TemporaryPaths.unregister(processGroup: pid)
    }

    private var reaped: Int32?

    /// The exit status once the child ended (128 + signal when a signal ended it); waits.
    @discardableResult
    func exitStatus() -> Int32 {
        if let reaped { return reaped }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = Self.code(status)
        return Self.code(status)
    }

    /// A `waitpid` status as an exit code: the code itself, or 128 + the signal that ended it.
    private static func code(_ status: Int32) -> Int32 {
        let signalled = status & 0x7F
        return signalled == 0 ? (status >> 8) & 0xFF : 128 + signalled
    }

    /// Waits for the child to exit by itself for up to `timeout` seconds; `nil` if it did not.
    func waitForExit(timeout: Double) -> Int32? {
        if let reaped { return reaped }
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                reaped = Self.code(status)
                return reaped
            }
            usleep(10_000)
        } while Date() < deadline
        return nil
    }

    /// What the child wrote on stderr, once the pipe closed (or after `timeout` seconds: a
    /// grandchild may still hold it).
    func errorText(timeout: Double = 2) -> String {
        String(decoding: errorCollector.wait(timeout: timeout), as: UTF8.self)
    }
}

/// Reads a descriptor to its end on a background thread, so the writer never blocks on a full
/// pipe; the descriptor is closed at the end.
final class DescriptorCollector: @unchecked Sendable {
    private var data = Data()
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)

    init(_ descriptor: Int32) {
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let got = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { break }
                lock.lock()
                // Keep the last 1 MiB: only the end of a loader's stderr is reported.
                data.append(contentsOf: buffer[..<got])
                if data.count > 1 << 20 { data.removeFirst(data.count - (1 << 20)) }
                lock.unlock()
            }
            close(descriptor)
            done.signal()
        }
    }

    /// Everything read so far, after waiting up to `timeout` seconds for the end.
    func wait(timeout: Double) -> Data {
        if done.wait(timeout: .now() + timeout) == .success { done.signal() }
        lock.lock()
        defer { lock.unlock() }
        return data
    }
}
