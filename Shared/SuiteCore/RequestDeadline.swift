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
/// reports what really happened). Nil runs it as it is.
public func until<T: Sendable>(
    _ deadline: ContinuousClock.Instant?, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    guard let deadline else { return try await operation() }
    return try await withThrowingTaskGroup(of: DeadlineRace<T>.self) { group in
        group.addTask { .finished(try await operation()) }
        group.addTask {
            try? await Task.sleep(until: deadline)
            return .deadline
        }
        while let next = try await group.next() {
            if case .finished(let value) = next {
                group.cancelAll()
                return value
            }
            // The deadline came first (or this task is being cancelled): cancel the
            // operation and wait for how it ends.
            group.cancelAll()
        }
        throw DeadlineExceeded()
    }
}

private enum DeadlineRace<T: Sendable>: Sendable {
    case finished(T)
    case deadline
}
