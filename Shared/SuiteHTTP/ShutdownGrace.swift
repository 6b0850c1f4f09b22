public import Logging
public import ServiceLifecycle
import NIOConcurrencyHelpers

/// Whether the service is on its way out: from SIGTERM on, `/health/ready` answers 503
/// so load balancers and Kubernetes stop sending, while the listener stays open.
public final class ShutdownState: Sendable {
    private let draining = NIOLockedValueBox(false)

    public init() {}

    public var isDraining: Bool { draining.withLockedValue { $0 } }

    func beginDraining() { draining.withLockedValue { $0 = true } }
}

/// Runs before the server in the service's outer group, so it is the first to hear a
/// graceful shutdown (groups stop their services in reverse order): it marks the service
/// not ready, keeps it accepting for `grace` (`SHUTDOWN_GRACE_SECONDS`) while load
/// balancers notice, then lets the server stop accepting and drain what is in flight.
/// Without it the listener closed at once and requests already routed here were refused.
public struct ShutdownGrace: Service {
    let state: ShutdownState
    let grace: Duration
    let logger: Logger

    public init(state: ShutdownState, grace: Duration, logger: Logger) {
        self.state = state
        self.grace = grace
        self.logger = logger
    }

    public func run() async throws {
        // Returns once a graceful shutdown is triggered (throws if the group is cancelled).
        do { try await gracefulShutdown() } catch { return }
        state.beginDraining()
        logger.info("shutting down: not ready, still accepting", metadata: ["grace_seconds": "\(grace.components.seconds)"])
        try? await Task.sleep(for: grace)
    }
}
