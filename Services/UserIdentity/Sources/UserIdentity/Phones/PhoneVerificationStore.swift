import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of phone verifications.
struct PhoneVerificationStore: Sendable {
    let logger: Logger

    /// A new pending verification; earlier pending ones for the same user and number
    /// are cancelled (only the newest code works).
    func start(
        _ verification: PhoneVerification, user: UUID, codeHash: [UInt8]?, ttl: Int, on connection: PostgresConnection
    ) async throws {
        try await connection.sql(
            "UPDATE phone_verifications SET status = 'canceled' WHERE user_id = \(user) AND phone = \(verification.phone) AND status = 'pending'",
            logger: logger)
        try await connection.sql(
            """
            INSERT INTO phone_verifications (id, user_id, phone, channel, code_hash, expires_at)
            VALUES (\(verification.id), \(user), \(verification.phone), \(verification.channel), \(codeHash.map { Data($0) }),
                    now() + make_interval(secs => \(ttl)))
            """, logger: logger)
    }

    /// The newest unexpired pending verification of `user` for `phone`, locked, with its
    /// code's hash and the attempts made.
    func lockPending(user: UUID, phone: String, on connection: PostgresConnection) async throws
        -> (verification: PhoneVerification, codeHash: [UInt8]?, attempts: Int)?
    {
        let rows = try await connection.sql(
            """
            SELECT id, channel, code_hash, attempts FROM phone_verifications
            WHERE user_id = \(user) AND phone = \(phone) AND status = 'pending' AND expires_at > now()
            ORDER BY created_at DESC LIMIT 1 FOR UPDATE
            """, logger: logger)
        for try await (id, channel, hash, attempts) in rows.decode((String, String, Data?, Int).self) {
            return (PhoneVerification(id: id, phone: phone, channel: channel, status: "pending"), hash.map { Array($0) }, attempts)
        }
        return nil
    }

    func update(_ id: String, status: String, attempts: Int, on connection: PostgresConnection) async throws {
        try await connection.sql(
            "UPDATE phone_verifications SET status = \(status), attempts = \(attempts) WHERE id = \(id)", logger: logger)
    }
}
