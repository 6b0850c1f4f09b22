public import Hummingbird
import SuiteCore

/// Gives every request a deadline (`REQUEST_TIMEOUT_MS`): the responder runs in a task
/// that is cancelled when the deadline passes, so whatever it waits for (a database
/// connection, a batch, a peer) is given up, and `RequestMiddleware` answers 503 for it.
/// The deadline is also `RequestDeadline.current`, for waits made in other tasks on the
/// request's behalf. A responder that finishes despite the cancellation (its statement
/// had reached PostgreSQL) is waited for and answers what happened.
///
/// It wraps the router's responder rather than being a middleware: a middleware's `next`
/// cannot be handed to the task that the deadline cancels.
public struct DeadlineResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context: Sendable {
    public typealias Context = Inner.Context

    let inner: Inner
    let timeout: Duration

    public init(_ inner: Inner, timeout: Duration) {
        self.inner = inner
        self.timeout = timeout
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let deadline = ContinuousClock.now + timeout
        let inner = self.inner
        return try await RequestDeadline.$current.withValue(deadline) {
            try await until(deadline) { try await inner.respond(to: request, context: context) }
        }
    }
}
