public import Logging
import SuiteCore

/// Coalesces concurrent reads of single keys into one query: while a batch is with
/// PostgreSQL, new keys wait for the next one, so 64 concurrent requests cost a couple of
/// round trips instead of 64. A key asked alone goes out at once (no timer, no added
/// latency), and nothing is cached: every answer comes from the database as it is.
///
/// `fetch` reads many keys in one statement (`WHERE id = ANY($1)`) and returns those it
/// found.
public final class QueryBatcher<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    public typealias Fetch = @Sendable ([Key], Logger) async throws -> [Key: Value]

    private struct Waiter: BatchWaiter {
        var id: UInt64
        var key: Key
        var deadline: ContinuousClock.Instant?
        var continuation: CheckedContinuation<Value?, any Error>
    }

    private let fetch: Fetch
    private let maxBatch: Int
    private let queue: BatchQueue<Waiter>

    /// - Parameters:
    ///   - maxInFlight: batches with the database at once (two keeps both cores busy).
    ///   - maxBatch: keys per statement at most.
    public init(maxInFlight: Int = 2, maxBatch: Int = 256, fetch: @escaping Fetch) {
        self.fetch = fetch
        self.maxBatch = maxBatch
        queue = BatchQueue(maxInFlight: maxInFlight)
    }

    /// The value of `key`, or nil when the database has none.
    /// A caller cancelled while it waits leaves the queue; a batch is given up at the
    /// earliest deadline of its callers (`RequestDeadline`).
    public func load(_ key: Key, logger: Logger) async throws -> Value? {
        let id = queue.nextID()
        let deadline = RequestDeadline.current
        return try await withTaskCancellationHandler {
            try Task.checkCancellation()
            return try await withCheckedThrowingContinuation { continuation in
                let waiter = Waiter(id: id, key: key, deadline: deadline, continuation: continuation)
                if queue.enqueue(waiter) { Task { await self.drain(logger: logger) } }
            }
        } onCancel: {
            queue.remove(id: id)?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Runs batches until nobody waits.
    private func drain(logger: Logger) async {
        while true {
            let batch = queue.next { waiting in
                let batch = Array(waiting.prefix(maxBatch))
                waiting.removeFirst(batch.count)
                return batch
            }
            if batch.isEmpty { return }
            do {
                var keys: [Key] = []
                keys.reserveCapacity(batch.count)
                var seen = Set<Key>()
                for waiter in batch where seen.insert(waiter.key).inserted { keys.append(waiter.key) }
                let fetch = self.fetch
                let found = try await until(RequestDeadline.earliest(batch.map(\.deadline))) { [keys] in try await fetch(keys, logger) }
                for waiter in batch { waiter.continuation.resume(returning: found[waiter.key]) }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}
