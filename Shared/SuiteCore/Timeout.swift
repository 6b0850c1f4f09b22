/// The operation did not finish in time.
public struct TimeoutError: Error, Sendable {
    public let seconds: Double
}

/// Runs `operation`, giving up after `seconds`: the operation's task is cancelled and
/// `TimeoutError` thrown. Use it around anything that waits on a peer or the database
/// where a caller needs an answer in bounded time (health probes, internal calls).
public func withTimeout<T: Sendable>(
    seconds: Double,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            throw TimeoutError(seconds: seconds)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
