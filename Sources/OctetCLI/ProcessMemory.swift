import Foundation

/// The process's own memory figures.
enum ProcessMemory {
    /// Peak resident set size of this process, in bytes: `VmHWM` of /proc/self/status on Linux
    /// (the high-water mark of this program's own address space; `getrusage`'s `ru_maxrss`
    /// also counts the pages of a large parent at the fork before `exec`), else `ru_maxrss`.
    static func peakResidentBytes() -> Int {
        #if os(Linux)
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kilobytes = Int(line.dropFirst("VmHWM:".count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        {
            return kilobytes * 1024
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
        #else
        var usage = rusage()
        getrusage(RUSAGE_SELF, &usage)
        return usage.ru_maxrss
        #endif
    }
}
