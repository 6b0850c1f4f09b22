import Foundation
import Logging
import PostgresNIO

/// The SQL of forgotten-password requests: kept by the hash of the mailed secret, used once.
struct PasswordResetStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    func insert(tokenHash: ByteBuffer, request: UUID, user: UUID, expires: Date, on connection: PostgresConnection) async throws {
        try await connection.sql(
            """
            INSERT INTO password_resets (token_hash, request_id, user_id, expires_at)
            VALUES (\(tokenHash), \(request), \(user), \(expires))
            """, logger: logger)
    }

    /// The unexpired reset with this hash: its user, expiry, and whether it was used.
    func find(tokenHash: ByteBuffer) async throws -> (user: UUID, expires: Date, used: Bool)? {
        let rows = try await database.sql(
            """
            SELECT user_id, expires_at, used_at IS NOT NULL FROM password_resets
            WHERE token_hash = \(tokenHash) AND expires_at > now()
            """, logger: logger)
        for try await row in rows.decode((UUID, Date, Bool).self) { return row }
        return nil
    }

    /// Claims the reset with the update itself (of two parallel requests one gets it);
    /// its user, or nil when it is used, expired or unknown.
    func claim(tokenHash: ByteBuffer, on connection: PostgresConnection) async throws -> UUID? {
        let rows = try await connection.sql(
            """
            UPDATE password_resets SET used_at = now()
            WHERE token_hash = \(tokenHash) AND used_at IS NULL AND expires_at > now()
            RETURNING user_id
            """, logger: logger)
        for try await user in rows.decode(UUID.self) { return user }
        return nil
    }
}
