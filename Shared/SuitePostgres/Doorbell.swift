import Synchronization

/// Wakes one waiting loop early: an outbox worker sleeps until its next poll or until
/// the doorbell rings (a message was committed), whichever comes first. A ring while
/// nobody waits is kept (once) for the next wait, so none is lost between two passes.
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<Bool, Never>)?
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: true)
    }

    /// Waits until the doorbell rings (true) or `timeout` passes or the task is
    /// cancelled (false). One waiter at a time.
    public func wait(upTo timeout: Duration) async -> Bool {
        let alreadyRung = state.withLock { state in
            defer { state.rung = false }
            return state.rung
        }
        if alreadyRung { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitForRing() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func waitForRing() async -> Bool {
        let id = state.withLock { state in
            state.nextID &+= 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answer = state.withLock { state -> Bool? in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    // Checked under the lock: a cancellation either happened already
                    // (answer now) or will find this waiter.
                    if Task.isCancelled { return false }
                    state.waiter = (id, continuation)
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard let waiter = state.waiter, waiter.id == id else { return nil }
                state.waiter = nil
                return waiter.continuation
            }
            waiter?.resume(returning: false)
        }
    }
}
