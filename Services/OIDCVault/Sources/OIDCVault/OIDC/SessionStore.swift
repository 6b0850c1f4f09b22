import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// Login sessions: made when an authorization completes, listed and revoked by their
/// user; revoking one revokes its refresh tokens and the access tokens that name it.
struct SessionStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    func revokeAll(tenant: String, userID: String) async throws {
        try await database.withRequestTransaction(logger: logger) { connection in
            try await connection.sql(
                "UPDATE sessions SET revoked_at = now() WHERE tenant_id = \(tenant) AND user_id = \(userID) AND revoked_at IS NULL",
                logger: logger)
            try await connection.sql(
                "UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = \(tenant) AND user_id = \(userID) AND revoked_at IS NULL",
                logger: logger)
        }
    }

    /// Ends the session a spent authorization code opened, with its refresh tokens: the
    /// code was presented twice, so its grant is taken as stolen, and every access token
    /// naming that session fails its next check.
    func revokeGrant(ofCode codeHash: ByteBuffer) async throws {
        try await database.sql(
            """
            WITH ended AS (
                UPDATE sessions SET revoked_at = now()
                WHERE session_id IN (SELECT session_id FROM authorization_codes WHERE code_hash = \(codeHash) AND consumed_at IS NOT NULL)
                RETURNING session_id
            )
            UPDATE refresh_tokens SET revoked_at = now() WHERE session_id IN (SELECT session_id FROM ended) AND revoked_at IS NULL
            """, logger: logger)
    }

    /// Ends a refresh token family and the session it belongs to (a spent token came back).
    func revokeGrant(family: UUID) async throws {
        try await database.sql(
            """
            WITH family AS (
                UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = \(family) AND revoked_at IS NULL RETURNING session_id
            )
            UPDATE sessions SET revoked_at = now()
            WHERE session_id IN (SELECT session_id FROM refresh_tokens WHERE family_id = \(family)) AND revoked_at IS NULL
            """, logger: logger)
    }

    /// Revokes one session; false when it is not there (or not the user's).
    func revoke(_ id: UUID, tenant: String, userID: String?) async throws -> Bool {
        try await database.withRequestTransaction(logger: logger) { connection in
            let rows = try await connection.sql(
                """
                UPDATE sessions SET revoked_at = now()
                WHERE session_id = \(id) AND tenant_id = \(tenant) AND (\(userID)::text IS NULL OR user_id = \(userID))
                    AND revoked_at IS NULL
                RETURNING 1
                """, logger: logger)
            var found = false
            for try await _ in rows.decode(Int.self) { found = true }
            if found {
                try await connection.sql(
                    "UPDATE refresh_tokens SET revoked_at = now() WHERE session_id = \(id) AND revoked_at IS NULL", logger: logger)
            }
            return found
        }
    }

    /// The user's live sessions, newest login first: id, created, token issue and last
    /// access (JSON text of their access blocks), expiry.
    func live(tenant: String, userID: String) async throws -> [(id: UUID, created: String, issue: String?, access: String?, expires: Date)] {
        let rows = try await database.sql(
            """
            SELECT session_id, created::text, token_issue::text, last_access::text, expires_at FROM sessions
            WHERE tenant_id = \(tenant) AND user_id = \(userID) AND revoked_at IS NULL AND expires_at > now()
            ORDER BY auth_time DESC LIMIT 100
            """, logger: logger)
        var sessions: [(id: UUID, created: String, issue: String?, access: String?, expires: Date)] = []
        for try await row in rows.decode((UUID, String, String?, String?, Date).self) { sessions.append(row) }
        return sessions
    }
}
