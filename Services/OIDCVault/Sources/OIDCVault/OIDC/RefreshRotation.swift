import Foundation
import PostgresNIO

/// One refresh, one round trip: claim the token (only if unspent, unrevoked, unexpired
/// and the caller's), insert its successor in the same family unless the session ended,
/// and read the user the new tokens are for. Prepared, so PostgreSQL plans it once per
/// connection.
struct RotateRefreshToken: PostgresPreparedStatement {
    static let name = "vault_rotate_refresh_token"
    static let sql = """
        WITH claimed AS (
            UPDATE refresh_tokens SET used_at = now()
            WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
                AND tenant_id = $3 AND client_id = $4
            RETURNING family_id, user_id, session_id, scope, auth_time
        ), inserted AS (
            INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, client_id, user_id, session_id, scope, auth_time, expires_at)
            SELECT $2, family_id, $3, $4, user_id, session_id, scope, auth_time, now() + make_interval(secs => $5)
            FROM claimed
            WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = claimed.session_id AND s.revoked_at IS NOT NULL)
            RETURNING 1
        )
        SELECT c.user_id, c.session_id, c.scope, c.auth_time, EXISTS (SELECT 1 FROM inserted),
               u.username, u.email, u.is_verified, u.is_disabled
        FROM claimed c LEFT JOIN users u ON u.tenant_id = $3 AND u.user_id = c.user_id
        """

    struct Row {
        let userID: String?
        let sessionID: UUID?
        let scope: String
        let authTime: Date?
        let issued: Bool
        let username: String?
        let email: String?
        let emailVerified: Bool
        let userDisabled: Bool
    }

    let tokenHash: [UInt8]
    let successorHash: [UInt8]
    let tenant: String
    let client: String
    let lifetimeSeconds: Double

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        bindings.append(ByteBuffer(bytes: tokenHash))
        bindings.append(ByteBuffer(bytes: successorHash))
        bindings.append(tenant)
        bindings.append(client)
        bindings.append(lifetimeSeconds)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let c = row.makeRandomAccess()
        return Row(
            userID: try c[0].decode(String?.self), sessionID: try c[1].decode(UUID?.self), scope: try c[2].decode(String.self),
            authTime: try c[3].decode(Date?.self), issued: try c[4].decode(Bool.self), username: try c[5].decode(String?.self),
            email: try c[6].decode(String?.self), emailVerified: try c[7].decode(Bool?.self) ?? false,
            userDisabled: try c[8].decode(Bool?.self) ?? true)
    }
}
