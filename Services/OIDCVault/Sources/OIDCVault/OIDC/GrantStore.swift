import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of what the token endpoint grants: codes redeemed, refresh token families,
/// revocations.
struct GrantStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    struct RedeemedCode: Sendable {
        let userID: String
        let session: UUID
        let redirectURI: String
        let scope: String
        let nonce: String?
        let codeChallenge: String?
        let authTime: Date
    }

    /// Consumes the client's unexpired code with this hash, once; nil when it is not one.
    func redeemCode(hash: [UInt8], tenant: String, client: String) async throws -> RedeemedCode? {
        let rows = try await database.sql(
            """
            UPDATE authorization_codes SET consumed_at = now()
            WHERE code_hash = \(ByteBuffer(bytes: hash)) AND consumed_at IS NULL AND expires_at > now() AND tenant_id = \(tenant)
                AND client_id = \(client)
            RETURNING user_id, session_id, redirect_uri, scope, nonce, code_challenge, auth_time
            """, logger: logger)
        for try await (user, session, redirectURI, scope, nonce, challenge, authTime) in rows.decode(
            (String, UUID, String, String, String?, String?, Date).self)
        {
            return RedeemedCode(
                userID: user, session: session, redirectURI: redirectURI, scope: scope, nonce: nonce, codeChallenge: challenge,
                authTime: authTime)
        }
        return nil
    }

    /// Starts a refresh token family for the session, and records where the tokens went.
    func startFamily(
        refreshHash: [UInt8], tenant: String, client: String, userID: String, session: UUID, scope: String, authTime: Date,
        lifetimeSeconds: Int, issue: String
    ) async throws {
        try await database.sql(
            """
            INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, client_id, user_id, session_id, scope, auth_time, expires_at)
            VALUES (\(ByteBuffer(bytes: refreshHash)), \(UUID()), \(tenant), \(client), \(userID),
                    \(session), \(scope), \(authTime), now() + make_interval(secs => \(Double(lifetimeSeconds))))
            """, logger: logger)
        try await database.sql(
            "UPDATE sessions SET token_issue = \(issue)::jsonb, last_access = \(issue)::jsonb WHERE session_id = \(session)", logger: logger)
    }

    /// Claims a refresh token and stores its successor, in one statement.
    func rotate(_ rotation: RotateRefreshToken) async throws -> RotateRefreshToken.Row? {
        for try await row in try await database.sql(rotation, logger: logger) { return row }
        return nil
    }

    struct SpentRefresh: Sendable {
        let family: UUID
        let userID: String?
        let session: UUID?
        let scope: String
        let authTime: Date?
        /// Used within the grace: a second use gets the same successor.
        let inGrace: Bool
        /// Neither revoked nor expired.
        let alive: Bool
    }

    /// A refresh token of the client's that was already used.
    func spentRefresh(hash: [UInt8], tenant: String, client: String, graceSeconds: Int) async throws -> SpentRefresh? {
        let rows = try await database.sql(
            """
            SELECT family_id, user_id, session_id, scope, auth_time, used_at > now() - make_interval(secs => \(Double(graceSeconds))),
                   revoked_at IS NULL AND expires_at > now()
            FROM refresh_tokens WHERE token_hash = \(ByteBuffer(bytes: hash)) AND tenant_id = \(tenant) AND client_id = \(client)
                AND used_at IS NOT NULL
            """, logger: logger)
        for try await (family, userID, session, scope, authTime, inGrace, alive) in rows.decode(
            (UUID, String?, UUID?, String, Date?, Bool, Bool).self)
        {
            return SpentRefresh(family: family, userID: userID, session: session, scope: scope, authTime: authTime, inGrace: inGrace, alive: alive)
        }
        return nil
    }

    /// An unused, live refresh token of the tenant: client, user, scope, exp, iat.
    func activeRefresh(hash: [UInt8], tenant: String) async throws -> (client: String, userID: String?, scope: String, exp: Int, iat: Int)? {
        let rows = try await database.sql(
            """
            SELECT client_id, user_id, scope, extract(epoch FROM expires_at)::bigint, extract(epoch FROM created_at)::bigint
            FROM refresh_tokens WHERE token_hash = \(ByteBuffer(bytes: hash))
                AND tenant_id = \(tenant) AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
            """, logger: logger)
        for try await row in rows.decode((String, String?, String, Int, Int).self) { return row }
        return nil
    }

    /// Revokes an access token by its `jti` until it would have expired anyway.
    func revokeAccessToken(jti: String, expiresAt: Int) async throws {
        try await database.sql(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES (\(jti), to_timestamp(\(Double(expiresAt)))) ON CONFLICT DO NOTHING",
            logger: logger)
    }

    /// Revokes the family of the client's refresh token with this hash.
    func revokeRefreshFamily(hash: [UInt8], tenant: String, client: String) async throws {
        try await database.sql(
            """
            UPDATE refresh_tokens SET revoked_at = now()
            WHERE family_id IN (SELECT family_id FROM refresh_tokens WHERE token_hash = \(ByteBuffer(bytes: hash))
                                AND tenant_id = \(tenant) AND client_id = \(client))
                AND revoked_at IS NULL
            """, logger: logger)
    }
}
