public import Logging
public import ServiceLifecycle

/// Runs `pass` every `interval` until graceful shutdown: the loop of outbox workers and
/// janitors. A failed pass is logged and the next one comes on time; the wait ends at once
/// on shutdown, so a periodic job never holds the service up. With `waitFirst` the first
/// pass comes after one interval, not at start (purges need not run on every start).
/// An outbox worker uses `draining`: while a pass says more is waiting (it claimed a full
/// batch), the next one comes at once instead of after the interval.
public struct Periodic: Service {
    public let name: String
    public let interval: Duration
    public let logger: Logger
    public let waitFirst: Bool
    /// True when more is waiting.
    let pass: @Sendable () async throws -> Bool

    public init(
        _ name: String, every interval: Duration, logger: Logger, waitFirst: Bool = false, pass: @escaping @Sendable () async throws -> Void
    ) {
        self.init(name: name, interval: interval, logger: logger, waitFirst: waitFirst) {
            try await pass()
            return false
        }
    }

    /// An outbox worker's loop: `pass` returns true while more is waiting.
    public static func draining(
        _ name: String, every interval: Duration, logger: Logger, pass: @escaping @Sendable () async throws -> Bool
    ) -> Periodic {
        Periodic(name: name, interval: interval, logger: logger, waitFirst: false, pass: pass)
    }

    private init(name: String, interval: Duration, logger: Logger, waitFirst: Bool, pass: @escaping @Sendable () async throws -> Bool) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.waitFirst = waitFirst
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
