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
    let timer = Task {
        try? await Task.sleep(until: deadline)
        guard !Task.isCancelled else { return }
        work.cancel()
        try? await Task.sleep(until: deadline + extra)
        guard !Task.isCancelled else { return }
        outcome.finish(.failure(DeadlineExceeded()))
    }
    defer { timer.cancel() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { outcome.wait($0) }
    } onCancel: {
        work.cancel()
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
