public import Logging
import NIOConcurrencyHelpers

/// Coalesces concurrent reads of single keys into one query: while a batch is with
/// PostgreSQL, new keys wait for the next one, so 64 concurrent requests cost a couple of
/// round trips instead of 64. A key asked alone goes out at once (no timer, no added
/// latency), and nothing is cached: every answer comes from the database as it is.
///
/// `fetch` reads many keys in one statement (`WHERE id = ANY($1)`) and returns those it
/// found.
public final class QueryBatcher<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    public typealias Fetch = @Sendable ([Key], Logger) async throws -> [Key: Value]

    private struct Waiter {
        var key: Key
        var continuation: CheckedContinuation<Value?, any Error>
    }

    private struct State {
        var waiting: [Waiter] = []
        var inFlight = 0
    }

    private let fetch: Fetch
    private let maxInFlight: Int
    private let maxBatch: Int
    /// A plain pthread mutex: on Linux a contended `Mutex` is a priority-inheriting futex,
    /// much dearer when both event loops ask at once.
    private let state = NIOLockedValueBox(State())

    /// - Parameters:
    ///   - maxInFlight: batches with the database at once (two keeps both cores busy).
    ///   - maxBatch: keys per statement at most.
    public init(maxInFlight: Int = 2, maxBatch: Int = 256, fetch: @escaping Fetch) {
        self.fetch = fetch
        self.maxInFlight = maxInFlight
        self.maxBatch = maxBatch
    }

    /// The value of `key`, or nil when the database has none.
    public func load(_ key: Key, logger: Logger) async throws -> Value? {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLockedValue { state -> Bool in
                state.waiting.append(Waiter(key: key, continuation: continuation))
                guard state.inFlight < maxInFlight else { return false }
                state.inFlight += 1
                return true
            }
            if start { Task { await self.drain(logger: logger) } }
        }
    }

    /// Runs batches until nobody waits.
    private func drain(logger: Logger) async {
        while true {
            let batch = state.withLockedValue { state -> [Waiter] in
                let batch = Array(state.waiting.prefix(maxBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.inFlight -= 1 }
                return batch
            }
            if batch.isEmpty { return }
            do {
                var keys: [Key] = []
                keys.reserveCapacity(batch.count)
                var seen = Set<Key>()
                for waiter in batch where seen.insert(waiter.key).inserted { keys.append(waiter.key) }
                let found = try await fetch(keys, logger)
                for waiter in batch { waiter.continuation.resume(returning: found[waiter.key]) }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}
