import Foundation
import Logging
import PostgresNIO
import SuiteMail

/// The SQL of invitations: third-party invites waiting for their address to be bound,
/// their ephemeral keys, and the room invitations meet-rooms hands over.
struct InviteStore: Sendable {
    let database: PostgresClient

    /// The Matrix ID an email address is bound to, if any.
    func boundMXID(medium: String, address: String, logger: Logger) async throws -> String? {
        let rows = try await database.sql("SELECT mxid FROM associations WHERE medium = \(medium) AND address = \(address)", logger: logger)
        for try await mxid in rows.decode(String.self) { return mxid }
        return nil
    }

    /// The pending invite, its ephemeral public key and its mail, in one transaction.
    func storePending(
        email: String, roomID: String, sender: String, token: String, ephemeralPublicKey: String, mail: MailEnvelope, logger: Logger
    ) async throws {
        try await database.withRequestTransaction(logger: logger) { connection in
            try await connection.sql(
                """
                INSERT INTO pending_invites (medium, address, room_id, sender, token)
                VALUES ('email', \(email), \(roomID), \(sender), \(token))
                """, logger: logger)
            try await connection.sql("INSERT INTO ephemeral_public_keys (public_key) VALUES (\(ephemeralPublicKey))", logger: logger)
            try await MailOutbox.enqueue(mail, on: connection, logger: logger)
        }
    }

    /// Who sent the pending invite with this token.
    func sender(ofInviteToken token: String, logger: Logger) async throws -> String? {
        let rows = try await database.sql("SELECT sender FROM pending_invites WHERE token = \(token)", logger: logger)
        for try await sender in rows.decode(String.self) { return sender }
        return nil
    }

    /// Whether a store-invite made this ephemeral key; each check is counted.
    func checkEphemeralKey(_ key: String, logger: Logger) async throws -> Bool {
        let rows = try await database.sql(
            "UPDATE ephemeral_public_keys SET verify_count = verify_count + 1 WHERE public_key = \(key) RETURNING 1", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Records each (room, email) not invited yet and queues its mail (`mail(email)`), in
    /// one transaction; returns the addresses invited now and those invited before.
    func inviteToRoom(
        _ room: UUID, name: String, url: String, emails: [String], logger: Logger, mail: @Sendable (String) throws -> MailEnvelope
    ) async throws -> (invited: [String], alreadyInvited: [String]) {
        try await database.withRequestTransaction(logger: logger) { connection in
            var invited: [String] = []
            var already: [String] = []
            for email in emails {
                let inserted = try await connection.sql(
                    """
                    INSERT INTO room_invites (room_id, email, room_name, room_url) VALUES (\(room), \(email), \(name), \(url))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """, logger: logger)
                var isNew = false
                for try await _ in inserted { isNew = true }
                guard isNew else {
                    already.append(email)
                    continue
                }
                let mailID = try await MailOutbox.enqueue(try mail(email), on: connection, logger: logger)
                try await connection.sql(
                    "UPDATE room_invites SET mail_id = \(mailID) WHERE room_id = \(room) AND email = \(email)", logger: logger)
                invited.append(email)
            }
            return (invited, already)
        }
    }
}
