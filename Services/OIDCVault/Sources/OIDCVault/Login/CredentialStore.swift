import Foundation
import Logging
import PostgresNIO
import SuiteCore
import SuiteMail

/// The SQL of the zero-knowledge login: the credential on the user's row, challenges,
/// the pending authorization request a login is for, reset codes and the login audit.
/// Sealing, verifying and deciding stay in `LoginRoutes`.
struct CredentialStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    /// The tenant and client of a pending, unexpired authorization request.
    func pendingAuthRequest(_ id: String) async throws -> (tenant: String, client: String)? {
        let rows = try await database.sql(
            "SELECT tenant_id, client_id FROM auth_requests WHERE auth_req_id = \(id) AND expires_at > now() AND completed_at IS NULL",
            logger: logger)
        for try await (tenant, client) in rows.decode((String, String).self) { return (tenant, client) }
        return nil
    }

    func hasCredential(tenant: String, userID: String) async throws -> Bool {
        let rows = try await database.sql(
            "SELECT public_key IS NOT NULL FROM users WHERE tenant_id = \(tenant) AND user_id = \(userID)", logger: logger)
        for try await has in rows.decode(Bool.self) { return has }
        return false
    }

    /// Replaces the user's credential; pending challenges of the old one die with it.
    func replaceCredential(tenant: String, userID: String, publicKey: [UInt8], sealedHelper: Data, parameters: JSONValue) async throws {
        try await database.withRequestTransaction(logger: logger) { connection in
            try await connection.sql(
                """
                UPDATE users SET public_key = \(ByteBuffer(bytes: publicKey)),
                    helper_sealed = \(ByteBuffer(data: sealedHelper)), credential = \(CanonicalJSON.string(parameters))::jsonb, updated_at = now()
                WHERE tenant_id = \(tenant) AND user_id = \(userID)
                """, logger: logger)
            try await connection.sql(
                "UPDATE challenges SET consumed_at = now() WHERE tenant_id = \(tenant) AND user_id = \(userID) AND consumed_at IS NULL",
                logger: logger)
        }
    }

    /// The stored credential as it lies: public key, sealed helper, parameters (JSON text).
    func credential(tenant: String, userID: String) async throws -> (publicKey: [UInt8], sealedHelper: Data, parameters: String)? {
        let rows = try await database.sql(
            "SELECT public_key, helper_sealed, credential::text FROM users WHERE tenant_id = \(tenant) AND user_id = \(userID) AND public_key IS NOT NULL",
            logger: logger)
        for try await (key, sealed, text) in rows.decode((ByteBuffer, ByteBuffer, String).self) {
            return (Array(buffer: key), Data(buffer: sealed), text)
        }
        return nil
    }

    func insertChallenge(
        id: UUID, tenant: String, userID: String, authReqID: String?, purpose: String, nonce: [UInt8], lifetimeSeconds: Int
    ) async throws {
        try await database.sql(
            """
            INSERT INTO challenges (challenge_id, tenant_id, user_id, auth_req_id, purpose, nonce, expires_at)
            VALUES (\(id), \(tenant), \(userID), \(authReqID), \(purpose), \(ByteBuffer(bytes: nonce)),
                    now() + make_interval(secs => \(Double(lifetimeSeconds))))
            """, logger: logger)
    }

    /// Consumes the challenge once, atomically (of two parallel answers one finds it),
    /// and returns its nonce; nil when it is unknown, used, expired or for another request.
    func consumeChallenge(_ id: UUID, tenant: String, userID: String, authReqID: String?) async throws -> [UInt8]? {
        let rows = try await database.sql(
            """
            UPDATE challenges SET consumed_at = now()
            WHERE challenge_id = \(id) AND tenant_id = \(tenant) AND user_id = \(userID) AND consumed_at IS NULL AND expires_at > now()
                AND auth_req_id IS NOT DISTINCT FROM \(authReqID)
            RETURNING nonce
            """, logger: logger)
        for try await value in rows.decode(ByteBuffer.self) { return Array(buffer: value) }
        return nil
    }

    /// Records on the authorization request who logged in, the hash of the nonce that
    /// continues it, and whether a step-up is needed.
    func markAuthenticated(authReqID: String, userID: String, nonceHash: [UInt8], needVerify: Bool) async throws {
        try await database.sql(
            """
            UPDATE auth_requests SET user_id = \(userID), login_nonce_hash = \(ByteBuffer(bytes: nonceHash)),
                authenticated_at = now(), need_verify = \(needVerify)
            WHERE auth_req_id = \(authReqID) AND completed_at IS NULL
            """, logger: logger)
    }

    func audit(tenant: String, userID: String?, outcome: String, ip: String, ber: JSONValue?, logData: JSONValue?) async throws {
        try await database.sql(
            """
            INSERT INTO login_audit (tenant_id, user_id, outcome, ip, ber, log_data)
            VALUES (\(tenant), \(userID), \(outcome), \(ip), \(ber.map(CanonicalJSON.string))::jsonb,
                    \(logData.map(CanonicalJSON.string))::jsonb)
            """, logger: logger)
    }

    /// Keeps a reset code's hash (15 minutes) and queues its mail, in one transaction.
    func insertResetCode(hash: [UInt8], tenant: String, userID: String, mail: MailEnvelope) async throws {
        try await database.withRequestTransaction(logger: logger) { connection in
            try await connection.sql(
                """
                INSERT INTO password_resets (code_hash, tenant_id, user_id, expires_at)
                VALUES (\(ByteBuffer(bytes: hash)), \(tenant), \(userID), now() + interval '15 minutes')
                ON CONFLICT (code_hash) DO NOTHING
                """, logger: logger)
            try await MailOutbox.enqueue(mail, on: connection, logger: logger)
        }
    }

    /// Consumes the user's unexpired reset code with this hash; false when there is none.
    func consumeResetCode(hash: [UInt8], userID: String) async throws -> Bool {
        let rows = try await database.sql(
            """
            UPDATE password_resets SET consumed_at = now()
            WHERE code_hash = \(ByteBuffer(bytes: hash)) AND user_id = \(userID) AND consumed_at IS NULL AND expires_at > now()
            RETURNING 1
            """, logger: logger)
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }
}
