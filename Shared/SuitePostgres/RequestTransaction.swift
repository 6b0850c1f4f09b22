public import Logging
public import PostgresNIO
import SuiteCore

extension PostgresClient {
    /// A transaction for the request being served: `body` runs as in `withTransaction`, and
    /// just before COMMIT the request's deadline is checked. A transaction that reaches its
    /// commit after its caller was answered 503 (its wait for a connection outlived the
    /// deadline: PostgreSQL was down and came back) rolls back instead of committing, so a
    /// client told "failed" never finds the write done. Outside a request it is
    /// `withTransaction`.
    @discardableResult
    public func withRequestTransaction<Result>(
        logger: Logger, isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        let deadline = RequestDeadline.current
        return try await withTransaction(logger: logger, isolation: isolation) { connection in
            let result = try await body(connection)
            if let deadline, ContinuousClock.now >= deadline {
                logger.warning("transaction rolled back: its request's deadline passed before the commit")
                throw DeadlineExceeded()
            }
            return result
        }
    }
}
