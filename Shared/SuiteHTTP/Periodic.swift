public import Logging
public import ServiceLifecycle

/// Runs `pass` every `interval` until graceful shutdown: the loop of outbox workers and
/// janitors. A failed pass is logged and the next one comes on time; the wait ends at once
/// on shutdown, so a periodic job never holds the service up.
public struct Periodic: Service {
    public let name: String
    public let interval: Duration
    public let logger: Logger
    public let pass: @Sendable () async throws -> Void

    public init(_ name: String, every interval: Duration, logger: Logger, pass: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.pass = pass
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                try await pass()
            } catch {
                logger.warning("\(name) failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}
