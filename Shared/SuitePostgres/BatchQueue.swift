import NIOConcurrencyHelpers

/// The queue `QueryBatcher` and `WriteBatcher` share: callers wait in arrival order, and
/// at most `maxInFlight` drains take batches from it, each until nobody waits. A caller
/// that finds a drain slot free starts one, so a lone caller goes out at once.
final class BatchQueue<Waiter: Sendable>: Sendable {
    private struct State {
        var waiting: [Waiter] = []
        var inFlight = 0
    }

    /// A plain pthread mutex: on Linux a contended `Mutex` is a priority-inheriting futex,
    /// much dearer when both event loops ask at once.
    private let state = NIOLockedValueBox(State())
    private let maxInFlight: Int

    init(maxInFlight: Int) {
        self.maxInFlight = maxInFlight
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
