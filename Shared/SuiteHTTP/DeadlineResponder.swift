public import Hummingbird
public import SuiteCore

/// Gives every request a deadline (`REQUEST_TIMEOUT_MS`): the responder runs in a task
/// that is cancelled when the deadline passes, so whatever it waits for (a database
/// connection, a batch, a peer) is given up, and `RequestMiddleware` answers 503 for it.
/// The deadline is also `RequestDeadline.current`, for waits made in other tasks on the
/// request's behalf. A responder that finishes despite the cancellation (its statement
/// had reached PostgreSQL) is waited for and answers what happened.
///
/// It wraps the router's responder rather than being a middleware: a middleware's `next`
/// cannot be handed to the task that the deadline cancels.
public struct DeadlineResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context: SuiteRequestContext {
    public typealias Context = Inner.Context

    let inner: Inner
    let timeout: Duration
    let dialect: @Sendable (String) -> ErrorDialect

    public init(_ inner: Inner, timeout: Duration, dialect: @escaping @Sendable (String) -> ErrorDialect) {
        self.inner = inner
        self.timeout = timeout
        self.dialect = dialect
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let deadline = ContinuousClock.now + timeout
        let inner = self.inner
        do {
            return try await RequestDeadline.$current.withValue(deadline) {
                try await until(deadline) { try await inner.respond(to: request, context: context) }
            }
        } catch is DeadlineExceeded {
            // The handler did not stop when asked: it is left to finish on its own, and
            // the caller hears the deadline's answer anyway, so the server can drain.
            context.logger.error("request abandoned: its handler kept running past the deadline", metadata: ["path": "\(request.uri.path)"])
            var response = RequestMiddleware<Context>.response(
                for: .unavailable("The service could not answer in time. Try again shortly.", retryAfterSeconds: 1),
                dialect: dialect(request.uri.path))
            if let id = request.headers[.xRequestID] { response.headers[.xRequestID] = id }
            return response
        }
    }
}
