import Foundation
import Hummingbird
import Logging
import SuiteContracts
import SuiteCore
import SuiteHTTP
import Synchronization

/// Whether the user a delegation token acts for still exists and is enabled at
/// User&Identity, asked on every rooms request as La Suite Meet checks its own users. A
/// token outlives a disable by at most `lifetime` (2 s): answers are remembered that
/// long, and concurrent requests for one user share a single question to user-identity,
/// so a busy application costs one internal call per user every two seconds.
final class UserStanding: Sendable {
    enum Standing: Sendable {
        case enabled, disabled, unknown
    }

    private enum Entry {
        case known(Standing, ContinuousClock.Instant)
        case pending(Task<Standing, any Error>)
    }

    private let peers: InternalClient
    private let lifetime: Duration
    private let entries = Mutex<[UUID: Entry]>([:])

    init(peers: InternalClient, lifetime: Duration = .seconds(2)) {
        self.peers = peers
        self.lifetime = lifetime
    }

    /// Throws La Suite Meet's 401s unless the user exists and is enabled.
    func require(_ user: UUID, context: some SuiteRequestContext) async throws {
        switch try await standing(of: user, context: context) {
        case .enabled: return
        case .disabled: throw MeetError.unauthorized("User account is disabled.")
        case .unknown: throw MeetError.unauthorized("User not found.")
        }
    }

    func standing(of user: UUID, context: some SuiteRequestContext) async throws -> Standing {
        let now = ContinuousClock.now
        let lifetime = self.lifetime
        let task: Task<Standing, any Error>
        let answer: Standing? = entries.withLock { entries in
            if case .known(let standing, let at)? = entries[user], now - at < lifetime { return standing }
            return nil
        }
        if let answer { return answer }
        task = entries.withLock { entries in
            if case .pending(let running)? = entries[user] { return running }
            if entries.count > 100_000 { entries.removeAll(keepingCapacity: true) }
            let (peers, requestID, traceParent, logger) = (self.peers, context.requestID, context.traceParent, context.logger)
            let running = Task { try await Self.fetch(user, peers: peers, requestID: requestID, traceParent: traceParent, logger: logger) }
            entries[user] = .pending(running)
            return running
        }
        do {
            let standing = try await task.value
            entries.withLock { $0[user] = .known(standing, .now) }
            return standing
        } catch {
            // Not remembered: the next request asks again.
            entries.withLock { entries in
                if case .pending? = entries[user] { entries[user] = nil }
            }
            throw error
        }
    }


    private static func fetch(
        _ user: UUID, peers: InternalClient, requestID: String, traceParent: String?, logger: Logger
    ) async throws -> Standing {
        guard let found = try await peers.send(UserByID(id: user), requestID: requestID, traceParent: traceParent, logger: logger) else {
            return .unknown
        }
        return found.isEnabled ? .enabled : .disabled
    }
}
