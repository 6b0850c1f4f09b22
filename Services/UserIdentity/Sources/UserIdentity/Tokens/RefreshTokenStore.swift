import Foundation
import Logging
import PostgresNIO

/// The SQL of refresh tokens: each recorded in its family, used once, a family revoked
/// when one of its tokens is presented again.
struct RefreshTokenStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    /// Records a refresh token; with `stampLogin`, the user's last authentication too, in
    /// the same statement.
    func record(
        id: UUID, family: UUID, user: UUID, impersonator: UUID?, expires: Date, stampLogin: Bool, on connection: PostgresConnection
    ) async throws {
        if stampLogin {
            try await connection.sql(
                """
                WITH stamp AS (UPDATE users SET last_authentication_at = now() WHERE id = \(user))
                INSERT INTO refresh_tokens (id, family, user_id, impersonator_id, expires_at)
                VALUES (\(id), \(family), \(user), \(impersonator), \(expires))
                """, logger: logger)
        } else {
            try await connection.sql(
                """
                INSERT INTO refresh_tokens (id, family, user_id, impersonator_id, expires_at)
                VALUES (\(id), \(family), \(user), \(impersonator), \(expires))
                """, logger: logger)
        }
    }

    func record(id: UUID, family: UUID, user: UUID, impersonator: UUID?, expires: Date, stampLogin: Bool) async throws {
        try await database.withConnection { connection in
            try await record(id: id, family: family, user: user, impersonator: impersonator, expires: expires, stampLogin: stampLogin, on: connection)
        }
    }

    /// Uses the token once: its family, user and impersonator, or nil when it is not a
    /// live, unused token.
    func use(_ id: UUID) async throws -> (family: UUID, user: UUID, impersonator: UUID?)? {
        let rows = try await database.sql(
            """
            UPDATE refresh_tokens SET used_at = now()
            WHERE id = \(id) AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
            RETURNING family, user_id, impersonator_id
            """, logger: logger)
        for try await row in rows.decode((UUID, UUID, UUID?).self) { return row }
        return nil
    }

    /// Revokes the family of a token that was used already; how many tokens it revoked.
    func revokeFamily(ofUsed id: UUID) async throws -> Int {
        let rows = try await database.sql(
            """
            UPDATE refresh_tokens SET revoked_at = now()
            WHERE family = (SELECT family FROM refresh_tokens WHERE id = \(id) AND used_at IS NOT NULL)
              AND revoked_at IS NULL
            RETURNING user_id
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }
}
