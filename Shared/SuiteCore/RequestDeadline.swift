import Synchronization

/// When the request being served must have its answer: set by the request middleware
/// for the handler's task, read by whatever waits on the handler's behalf in another
/// task (a batch of database writes, for instance), so a wait started for a request
/// never outlives it.
public enum RequestDeadline {
    @TaskLocal public static var current: ContinuousClock.Instant?

    /// The earliest of `deadlines`, nil when none is set.
    public static func earliest(_ deadlines: some Sequence<ContinuousClock.Instant?>) -> ContinuousClock.Instant? {
        deadlines.compactMap { $0 }.min()
    }
}

/// The request's deadline passed while it was waiting (for a database connection, a
/// batch, a peer): it was given up, and nothing it was waiting to do was done.
public struct DeadlineExceeded: Error, Sendable {
    public init() {}
}

/// Runs `operation` until `deadline`: past it the operation's task is cancelled, and
/// whatever it then ends with is what this returns or throws (an operation that finishes
/// despite the cancellation, because its statement had already reached the database,
/// reports what really happened). One that is still running `abandonAfter` later is
/// left to finish on its own and `DeadlineExceeded` is thrown, so a caller always gets
/// its answer and a server can always drain. Nil runs it as it is.
public func until<T: Sendable>(
    _ deadline: ContinuousClock.Instant?, abandonAfter extra: Duration = .seconds(5),
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    guard let deadline else { return try await operation() }
    let outcome = DeadlineOutcome<T>()
    let work = Task {
        do { outcome.finish(.success(try await operation())) } catch { outcome.finish(.failure(error)) }
    }
    let watched = DeadlineWatch.shared.add(
        deadline: deadline, abandonAt: deadline + extra, cancel: { work.cancel() },
        abandon: { outcome.finish(.failure(DeadlineExceeded())) })
    defer { DeadlineWatch.shared.remove(watched) }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { outcome.wait($0) }
    } onCancel: {
        work.cancel()
    }
}

/// The one timer of every `until` in the process: a task that wakes every 50 ms while
/// something is watched, cancels what reached its deadline and abandons what outlived
/// it. A timer task per call armed and disarmed a libdispatch timer for every request, a
/// system call and a thread wake-up each (a fifth of `/health/live`'s CPU time under
/// load); a deadline now fires at most 50 ms late.
final class DeadlineWatch: Sendable {
    static let shared = DeadlineWatch()
    static let tick: Duration = .milliseconds(50)

    private struct Entry {
        var deadline: ContinuousClock.Instant
        var abandonAt: ContinuousClock.Instant
        var cancelled = false
        let cancel: @Sendable () -> Void
        let abandon: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var next: UInt64 = 0
        var ticking = false
    }

    private let state = Mutex(State())

    /// Watches one operation; a deadline already passed cancels it at once.
    func add(
        deadline: ContinuousClock.Instant, abandonAt: ContinuousClock.Instant, cancel: @escaping @Sendable () -> Void,
        abandon: @escaping @Sendable () -> Void
    ) -> UInt64 {
        let passed = deadline <= .now
        if passed { cancel() }
        let (id, start) = state.withLock { state -> (UInt64, Bool) in
            state.next &+= 1
            state.entries[state.next] = Entry(deadline: deadline, abandonAt: abandonAt, cancelled: passed, cancel: cancel, abandon: abandon)
            defer { state.ticking = true }
            return (state.next, !state.ticking)
        }
        if start { Task.detached { await self.run() } }
        return id
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// Whether the ticking task runs (it stops when nothing is watched).
    var isTicking: Bool { state.withLock { $0.ticking } }

    /// Ticks while anything is watched, then stops until the next `add`.
    private func run() async {
        while true {
            try? await Task.sleep(for: Self.tick)
            let now = ContinuousClock.now
            let (due, more) = state.withLock { state -> ([@Sendable () -> Void], Bool) in
                var due: [@Sendable () -> Void] = []
                for (id, entry) in state.entries {
                    if entry.abandonAt <= now {
                        due.append(entry.abandon)
                        state.entries[id] = nil
                    } else if !entry.cancelled, entry.deadline <= now {
                        due.append(entry.cancel)
                        state.entries[id]?.cancelled = true
                    }
                }
                if state.entries.isEmpty { state.ticking = false }
                return (due, state.ticking)
            }
            // Outside the lock: cancelling runs the operation's cancellation handlers.
            for action in due { action() }
            guard more else { return }
        }
    }
}

/// The one answer of `until`: the operation's, or the deadline's, whichever comes first.
private final class DeadlineOutcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
    }

    private let state = Mutex(State())

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock {
            if let result = $0.result { continuation.resume(with: result) } else { $0.continuation = continuation }
        }
    }

    func finish(_ outcome: Result<T, any Error>) {
        state.withLock {
            guard $0.result == nil else { return }
            $0.result = outcome
            $0.continuation?.resume(with: outcome)
            $0.continuation = nil
        }
    }
}
