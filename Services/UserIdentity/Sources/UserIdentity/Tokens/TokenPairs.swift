import Foundation
import SuiteCore

extension Core {
    /// A new pair, recorded with `event` (logins and impersonations are audited) in the
    /// same transaction.
    func issue(
        for user: User, family: UUID?, impersonator: UUID?, markAuthenticated: Bool, event: (String, [String: JSONValue])? = nil
    ) async throws -> TokenPair {
        let pair = self.tokens.pair(for: user, impersonator: impersonator)
        let family = family ?? pair.refreshID
        let expires = Date(timeIntervalSince1970: TimeInterval(pair.refreshExpires))
        if let (type, body) = event {
            try await transaction { connection in
                try await refreshTokens.record(
                    id: pair.refreshID, family: family, user: user.id, impersonator: impersonator, expires: expires,
                    stampLogin: markAuthenticated, on: connection)
                try await EventStore.record(type, body, on: connection, logger: logger)
            }
        } else {
            try await refreshTokens.record(
                id: pair.refreshID, family: family, user: user.id, impersonator: impersonator, expires: expires, stampLogin: markAuthenticated)
        }
        return TokenPair(access: pair.access, refresh: pair.refresh)
    }
}
