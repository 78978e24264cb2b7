import Foundation

/// The memory this process may still allocate, from the limits that really bind it: free
/// physical memory (with swap), the cgroup's `memory.max` (containers, CI runners, systemd
/// slices), `RLIMIT_AS` / `RLIMIT_DATA`, and `OCTET_MEMORY_LIMIT` (bytes, or with a K, M or G
/// suffix: a cap a batch job sets for Octet alone). Requests sized by untrusted input are compared
/// with it first, so one that cannot fit fails with a message instead of an abort.
public enum MemoryBudget {
    /// Requests below this are not checked (reading the limits costs more than they do).
    public static let unchecked = 64 << 20

    /// The tightest limit on new allocations now: bytes still available and which limit it is.
    public static func headroom() -> (bytes: Int, limit: String) {
        var best = (bytes: Int.max, limit: "")
        func consider(_ bytes: Int?, _ limit: String) {
            if let bytes, bytes < best.bytes { best = (max(0, bytes), limit) }
        }
        let meminfo = keyValues("/proc/meminfo")
        if let available = meminfo["MemAvailable"] {
            consider(available + (meminfo["SwapFree"] ?? 0), "free memory")
        } else {
            consider(Int(clamping: ProcessInfo.processInfo.physicalMemory), "physical memory")
        }
        if let (maximum, current) = cgroupLimit() { consider(maximum - current, "the cgroup's memory.max") }
        let status = keyValues("/proc/self/status")
        if let text = ProcessInfo.processInfo.environment["OCTET_MEMORY_LIMIT"], let limit = parseSize(text) {
            consider(limit - (status["VmRSS"] ?? 0), "OCTET_MEMORY_LIMIT=\(text)")
        }
        var limit = rlimit()
        if getrlimit(rlimitAS, &limit) == 0, limit.rlim_cur != rlim_t.max, let size = status["VmSize"] {
            consider(Int(clamping: limit.rlim_cur) - size, "RLIMIT_AS (ulimit -v)")
        }
        if getrlimit(rlimitData, &limit) == 0, limit.rlim_cur != rlim_t.max, let data = status["VmData"] {
            consider(Int(clamping: limit.rlim_cur) - data, "RLIMIT_DATA (ulimit -d)")
        }
        return best
    }

    /// `nil` when `bytes` more may be allocated now, else why not (for an error message).
    /// - Parameter bytes: the size of the request.
    public static func refusal(_ bytes: Int) -> String? {
        guard bytes >= unchecked else { return nil }
        let (available, limit) = headroom()
        guard bytes > available else { return nil }
        return "needs \(format(bytes)), more than the \(format(available)) this process may still use (\(limit))"
    }

    /// "4G", "512M", "100K" or a plain byte count; `nil` when it is none of these.
    static func parseSize(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        if let last = trimmed.last, let unit = units[last] {
            return Int(trimmed.dropLast()).flatMap { Checked.multiply($0, unit) }
        }
        return Int(trimmed)
    }

    /// `bytes` as "1.5 GB" / "300 MB".
    public static func format(_ bytes: Int) -> String {
        let value = Double(bytes)
        if value >= 1e9 { return String(format: "%.1f GB", value / 1e9) }
        return String(format: "%.0f MB", value / 1e6)
    }

    #if os(Linux)
    private static let rlimitAS = Int32(RLIMIT_AS.rawValue)
    private static let rlimitData = Int32(RLIMIT_DATA.rawValue)
    #else
    private static let rlimitAS = RLIMIT_AS
    private static let rlimitData = RLIMIT_DATA
    #endif

    /// `memory.max` and `memory.current` of this process's cgroup (v2), or v1's limit and usage.
    private static func cgroupLimit() -> (Int, Int)? {
        guard let membership = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        for line in membership.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let folder: String
            let files: (String, String)
            if parts[0] == "0" {
                folder = "/sys/fs/cgroup" + parts[2]
                files = ("memory.max", "memory.current")
            } else if parts[1].split(separator: ",").contains("memory") {
                folder = "/sys/fs/cgroup/memory" + parts[2]
                files = ("memory.limit_in_bytes", "memory.usage_in_bytes")
            } else { continue }
            for candidate in [folder, parts[0] == "0" ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory"] {
                if let maximum = number(candidate + "/" + files.0), maximum < 1 << 60,
                   let current = number(candidate + "/" + files.1)
                {
                    return (maximum, current)
                }
            }
        }
        return nil
    }

    private static func number(_ path: String) -> Int? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// "Key:   123 kB" lines as bytes.
    private static func keyValues(_ path: String) -> [String: Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var result: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let fields = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let value = fields.first.flatMap({ Int($0) }) else { continue }
            result[String(parts[0])] = fields.count > 1 && fields[1] == "kB" ? value * 1024 : value
        }
        return result
    }
}
