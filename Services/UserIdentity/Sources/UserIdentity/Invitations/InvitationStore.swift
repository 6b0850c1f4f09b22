import Foundation
import Logging
import PostgresNIO

/// The SQL of invitations: kept by the hash of their id (the secret), redeemed once.
struct InvitationStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    func insert(idHash: ByteBuffer, user: UUID, expires: Date, mailID: Int64?, on connection: PostgresConnection) async throws {
        try await connection.sql(
            """
            INSERT INTO invitations (id_hash, user_id, expires_at, mail_id)
            VALUES (\(idHash), \(user), \(expires), \(mailID))
            """, logger: logger)
    }

    /// The invitation with, from the mail outbox, when its mail went out.
    func find(idHash: ByteBuffer) async throws -> (user: UUID, created: Date, redeemed: Date?, mailSent: Date?, expires: Date)? {
        let rows = try await database.sql(
            """
            SELECT i.user_id, i.created_at, i.redeemed_at, m.sent_at, i.expires_at
            FROM invitations i LEFT JOIN mail_outbox m ON m.id = i.mail_id
            WHERE i.id_hash = \(idHash)
            """, logger: logger)
        for try await row in rows.decode((UUID, Date, Date?, Date?, Date).self) { return row }
        return nil
    }

    /// The invitation, locked: its user, whether it was redeemed, whether it expired.
    func lock(idHash: ByteBuffer, on connection: PostgresConnection) async throws -> (user: UUID, redeemed: Bool, expired: Bool)? {
        let rows = try await connection.sql(
            """
            SELECT user_id, redeemed_at IS NOT NULL, expires_at <= now() FROM invitations
            WHERE id_hash = \(idHash) FOR UPDATE
            """, logger: logger)
        for try await row in rows.decode((UUID, Bool, Bool).self) { return row }
        return nil
    }

    /// Marks it redeemed and turns its prototype user into an enabled account with this password.
    func redeem(idHash: ByteBuffer, user: UUID, passwordHash: String, on connection: PostgresConnection) async throws {
        try await connection.sql("UPDATE invitations SET redeemed_at = now() WHERE id_hash = \(idHash)", logger: logger)
        try await connection.sql(
            "UPDATE users SET password_hash = \(passwordHash), prototype = false, is_enabled = true WHERE id = \(user)", logger: logger)
    }
}
