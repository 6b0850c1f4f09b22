public import Logging
public import ServiceLifecycle

/// Runs `pass` every `interval` until graceful shutdown: the loop of outbox workers and
/// janitors. A failed pass is logged and the next one comes on time; the wait ends at once
/// on shutdown, so a periodic job never holds the service up. With `waitFirst` the first
/// pass comes after one interval, not at start (purges need not run on every start).
public struct Periodic: Service {
    public let name: String
    public let interval: Duration
    public let logger: Logger
    public let waitFirst: Bool
    public let pass: @Sendable () async throws -> Void

    public init(
        _ name: String, every interval: Duration, logger: Logger, waitFirst: Bool = false, pass: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.waitFirst = waitFirst
        self.pass = pass
    }

    public func run() async throws {
        if waitFirst, !(await pause()) { return }
        while !Task.isShuttingDownGracefully {
            do {
                try await pass()
            } catch {
                logger.warning("\(name) failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            guard await pause() else { return }
        }
    }

    /// Waits one interval; false when shutdown cut it short.
    private func pause() async -> Bool {
        do {
            try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            return true
        } catch {
            return false
        }
    }
}
