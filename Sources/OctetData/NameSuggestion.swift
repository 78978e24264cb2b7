/// "Did you mean" suggestions for names that match nothing (a data key that is not an input).
public enum NameSuggestion {
    /// The candidate closest to `name` by edit distance (case-insensitive), when it is close
    /// enough to be a likely typo: at most a third of the longer name's characters differ (and not all of them).
    public static func closest(to name: String, among candidates: [String]) -> String? {
        let target = Array(name.lowercased())
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(target, Array(candidate.lowercased()))
            if distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        guard let best else { return nil }
        let longer = max(target.count, best.name.count)
        guard best.distance <= max(1, longer / 3), best.distance < longer else { return nil }
        return best.name
    }

    /// Levenshtein distance (insertions, deletions and substitutions cost 1).
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
