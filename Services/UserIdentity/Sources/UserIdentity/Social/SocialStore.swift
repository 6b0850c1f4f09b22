import Foundation
import Logging
import PostgresNIO
import SuiteCore
import SuiteSigning

/// The SQL of social logins: provider links and the code flows' states.
struct SocialStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    /// Keeps `state` (hashed) for `provider` and `redirect`, for `ttl` seconds.
    func saveState(_ state: String, provider: String, redirect: String, ttl: Int) async throws {
        try await database.sql(
            """
            INSERT INTO oauth_states (state_hash, provider, redirect_uri, expires_at)
            VALUES (\(Data(sha256(state))), \(provider), \(redirect), now() + make_interval(secs => \(ttl)))
            """, logger: logger)
    }

    /// Spends `state`: true when it was ours, for this provider and redirect, and live.
    func spendState(_ state: String, provider: String, redirect: String) async throws -> Bool {
        let rows = try await database.sql(
            """
            DELETE FROM oauth_states WHERE state_hash = \(Data(sha256(state))) AND provider = \(provider)
            RETURNING redirect_uri, expires_at > now()
            """, logger: logger)
        for try await (stored, live) in rows.decode((String, Bool).self) where live && stored == redirect { return true }
        return false
    }

    func linkedUser(provider: String, subject: String, on connection: PostgresConnection) async throws -> UUID? {
        let rows = try await connection.sql(
            "SELECT user_id FROM social_links WHERE provider = \(provider) AND subject = \(subject)", logger: logger)
        for try await id in rows.decode(UUID.self) { return id }
        return nil
    }

    func link(provider: String, subject: String, to user: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql(
            """
            INSERT INTO social_links (provider, subject, user_id) VALUES (\(provider), \(subject), \(user))
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }
}
