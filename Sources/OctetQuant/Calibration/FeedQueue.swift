import Foundation
import OctetGraph

/// A bounded queue of validated samples between the thread that reads and checks the data and
/// the thread that runs the model. Either side can stop the other: the reader when a sample
/// does not fit (the model must not run on data that failed validation), the runner when the
/// model fails.
final class FeedQueue: @unchecked Sendable {
    struct Item {
        let index: Int
        let feeds: [String: Tensor]
    }

    private let condition = NSCondition()
    private var items: [Item] = []
    private let capacity: Int
    private var finished = false
    private var halted = false
    private var cancelled = false

    /// - Parameter capacity: samples read ahead of the model at most.
    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Adds a sample, waiting while the queue is full.
    /// - Returns: `false` once the queue was halted (the reader then stops handing samples over).
    func push(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !halted { condition.wait() }
        guard !halted else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// The next sample, waiting for one; `nil` when the reader finished or the queue was halted.
    func pop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !finished && !halted { condition.wait() }
        guard !halted, !items.isEmpty else { return nil }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }

    /// No more samples will come.
    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Drops what is queued and wakes both sides; every later push and pop fails.
    func halt() {
        condition.lock()
        halted = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// Halts, and tells the reader to stop reading too (the model failed: checking the rest of
    /// the data would only delay the error).
    func cancel() {
        condition.lock()
        cancelled = true
        condition.unlock()
        halt()
    }

    /// Whether ``cancel()`` was called.
    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    /// Whether ``halt()`` was called.
    var isHalted: Bool {
        condition.lock()
        defer { condition.unlock() }
        return halted
    }
}
