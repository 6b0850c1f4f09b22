import Foundation
import SuiteContracts
import SuiteCore
import SuiteHTTP

/// Who may be acted for, by email: the user user-identity knows under that address,
/// enabled; a prototype (an invitation not yet redeemed) only as a provisional user,
/// made when `MEET_ALLOW_USER_CREATION` is on. One rule for the token endpoint and for
/// provider tokens. Answers are kept 2 s: a busy application asks for the same users
/// again and again, and a disable at user-identity still shows within that time.
struct DelegatedUsers: Sendable {
    let peers: InternalClient
    let allowCreation: Bool
    private let known = Memo<String, Known>(capacity: 10_000)

    static let memoSeconds = 2

    struct Known: Sendable {
        var user: DirectoryUser?
        var until: ContinuousClock.Instant
    }

    init(peers: InternalClient, allowCreation: Bool) {
        self.peers = peers
        self.allowCreation = allowCreation
    }

    /// The user to act for as `email` (normalised here), or nil: unknown, disabled, or
    /// a prototype while creation is off.
    func user(_ email: String, context: MeetContext) async throws -> DirectoryUser? {
        let email = Validate.normalizedEmail(email)
        let now = ContinuousClock.now
        var user: DirectoryUser?
        if let cached = known.get(email), cached.until > now {
            user = cached.user
        } else {
            user = try await peers.send(
                UserByEmail(email: email), requestID: context.requestID, traceParent: context.traceParent, logger: context.logger)
            if user == nil, allowCreation {
                // A provisional user (La Suite Meet's APPLICATION_ALLOW_USER_CREATION).
                user = try await peers.send(
                    ProvisionUser(email: email), requestID: context.requestID, traceParent: context.traceParent, logger: context.logger)
            }
            known.put(email, Known(user: user, until: now + .seconds(Self.memoSeconds)))
        }
        guard let user, user.isEnabled, !user.prototype || allowCreation else { return nil }
        return user
    }
}
