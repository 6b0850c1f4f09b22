public import Logging
public import ServiceLifecycle
public import SuitePostgres

/// Runs `pass` every `interval` until graceful shutdown: the loop of outbox workers and
/// janitors. A failed pass is logged and the next one comes on time; the wait ends at once
/// on shutdown, so a periodic job never holds the service up. With `waitFirst` the first
/// pass comes after one interval, not at start (purges need not run on every start).
/// An outbox worker uses `draining`: while a pass says more is waiting (it claimed a full
/// batch), the next one comes at once instead of after the interval, and a ring of its
/// `doorbell` (a message committed: `OutboxListener`) ends the wait early.
public struct Periodic: Service {
    public let name: String
    public let interval: Duration
    public let logger: Logger
    public let waitFirst: Bool
    let doorbell: Doorbell?
    /// True when more is waiting.
    let pass: @Sendable () async throws -> Bool

    public init(
        _ name: String, every interval: Duration, logger: Logger, waitFirst: Bool = false, pass: @escaping @Sendable () async throws -> Void
    ) {
        self.init(name: name, interval: interval, logger: logger, waitFirst: waitFirst, doorbell: nil) {
            try await pass()
            return false
        }
    }

    /// An outbox worker's loop: `pass` returns true while more is waiting.
    public static func draining(
        _ name: String, every interval: Duration, doorbell: Doorbell? = nil, logger: Logger,
        pass: @escaping @Sendable () async throws -> Bool
    ) -> Periodic {
        Periodic(name: name, interval: interval, logger: logger, waitFirst: false, doorbell: doorbell, pass: pass)
    }

    private init(
        name: String, interval: Duration, logger: Logger, waitFirst: Bool, doorbell: Doorbell?,
        pass: @escaping @Sendable () async throws -> Bool
    ) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.waitFirst = waitFirst
        self.doorbell = doorbell
        self.pass = pass
    }

    public func run() async throws {
        if waitFirst, !(await pause()) { return }
        while !Task.isShuttingDownGracefully {
            var more = false
            do {
                more = try await pass()
            } catch {
                logger.warning("\(name) failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            if !more, !(await pause()) { return }
        }
    }

    /// Waits one interval (or until the doorbell rings); false when shutdown cut it short.
    private func pause() async -> Bool {
        do {
            try await cancelWhenGracefulShutdown {
                if let doorbell {
                    _ = await doorbell.wait(upTo: interval)
                    try Task.checkCancellation()
                } else {
                    try await Task.sleep(for: interval)
                }
            }
            return true
        } catch {
            return false
        }
    }
}
