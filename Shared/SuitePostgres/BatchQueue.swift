import NIOConcurrencyHelpers

/// A caller waiting in a `BatchQueue`, known by the id the queue gave it.
protocol BatchWaiter: Sendable {
    var id: UInt64 { get }
}

/// The queue `QueryBatcher` and `WriteBatcher` share: callers wait in arrival order, and
/// at most `maxInFlight` drains take batches from it, each until nobody waits. A caller
/// that finds a drain slot free starts one, so a lone caller goes out at once. A caller
/// that gives up (its request's deadline passed) leaves the queue before its batch is
/// taken, so nothing is done for it.
final class BatchQueue<Waiter: BatchWaiter>: Sendable {
    private struct State {
        var waiting: [Waiter] = []
        var inFlight = 0
        var lastID: UInt64 = 0
    }

    /// A plain pthread mutex: on Linux a contended `Mutex` is a priority-inheriting futex,
    /// much dearer when both event loops ask at once.
    private let state = NIOLockedValueBox(State())
    private let maxInFlight: Int

    init(maxInFlight: Int) {
        self.maxInFlight = maxInFlight
    }

    /// A new waiter's id.
    func nextID() -> UInt64 {
        state.withLockedValue { state in
            state.lastID &+= 1
            return state.lastID
        }
    }

    /// Queues `waiter`; true when the caller must start a drain (`Task { … }`).
    func enqueue(_ waiter: Waiter) -> Bool {
        state.withLockedValue { state in
            state.waiting.append(waiter)
            guard state.inFlight < maxInFlight else { return false }
            state.inFlight += 1
            return true
        }
    }

    /// How many callers wait for a batch (for tests that need them queued in order).
    var waitingCount: Int { state.withLockedValue { $0.waiting.count } }

    /// Takes the waiter out if it still waits (not yet in a batch); nil once its batch
    /// has gone to the database, whose answer it then gets like the others.
    func remove(id: UInt64) -> Waiter? {
        state.withLockedValue { state in
            guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiting.remove(at: index)
        }
    }

    /// The next batch, which `take` removes from the waiting list; empty when nobody
    /// waits, and then this drain has ended.
    func next(_ take: (inout [Waiter]) -> [Waiter]) -> [Waiter] {
        state.withLockedValue { state in
            let batch = take(&state.waiting)
            if batch.isEmpty { state.inFlight -= 1 }
            return batch
        }
    }
}
