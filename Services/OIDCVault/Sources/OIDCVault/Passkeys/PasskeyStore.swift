import Foundation
import Logging
import NIOCore
import PostgresNIO
import SuiteCore
import SuiteSigning

/// The SQL of passkeys and WebAuthn challenges.
struct PasskeyStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    struct Passkey: Sendable {
        let keyID: String
        let credentialID: [UInt8]
        let userID: String
        let name: String
        let publicKey: [UInt8]
        let signCount: UInt32
        let transports: [String]
        let createdAt: Date
        let lastUse: JSONValue?

        /// A PublicKeyCredentialDescriptor: how the options name it to the browser.
        var descriptor: JSONValue {
            ["type": "public-key", "id": .string(Base64URL.encode(credentialID)), "transports": .array(transports.map(JSONValue.string))]
        }

        /// As the seed lists them.
        var json: JSONValue {
            ["id": .string(keyID), "created_at": .string(Timestamp.iso(createdAt)), "name": .string(name), "last_use": lastUse ?? .null]
        }
    }

    private static let columns = "key_id, credential_id, user_id, name, public_key, sign_count, transports, created_at, last_use::text"

    private static func passkeys(_ rows: PostgresRowSequence) async throws -> [Passkey] {
        var result: [Passkey] = []
        for try await row in rows.decode((String, ByteBuffer, String, String, ByteBuffer, Int64, [String], Date, String?).self) {
            result.append(Passkey(
                keyID: row.0, credentialID: Array(buffer: row.1), userID: row.2, name: row.3, publicKey: Array(buffer: row.4),
                signCount: UInt32(clamping: row.5), transports: row.6, createdAt: row.7,
                lastUse: row.8.flatMap { try? JSONParser.parse(Array($0.utf8)) }))
        }
        return result
    }

    /// Keeps a challenge (its hash) for `seconds`.
    func saveChallenge(_ challenge: String, tenant: String, userID: String?, purpose: String, seconds: Int) async throws {
        try await database.sql(
            """
            INSERT INTO webauthn_challenges (challenge_hash, tenant_id, user_id, purpose, expires_at)
            VALUES (\(ByteBuffer(bytes: sha256(challenge))), \(tenant), \(userID), \(purpose), now() + make_interval(secs => \(seconds)))
            """, logger: logger)
    }

    /// Spends a challenge: true when it was live, for this tenant, purpose and user.
    func spendChallenge(_ challenge: String, tenant: String, userID: String?, purpose: String) async throws -> Bool {
        let rows = try await database.sql(
            """
            DELETE FROM webauthn_challenges WHERE challenge_hash = \(ByteBuffer(bytes: sha256(challenge)))
            RETURNING tenant_id, user_id, purpose, expires_at > now()
            """, logger: logger)
        for try await (foundTenant, foundUser, foundPurpose, live) in rows.decode((String, String?, String, Bool).self) {
            return live && foundTenant == tenant && foundPurpose == purpose && (userID == nil || foundUser == userID)
        }
        return false
    }

    func passkeys(tenant: String, userID: String) async throws -> [Passkey] {
        try await Self.passkeys(database.sql(
            "SELECT \(unescaped: Self.columns) FROM passkeys WHERE tenant_id = \(tenant) AND user_id = \(userID) ORDER BY created_at",
            logger: logger))
    }

    func passkey(tenant: String, credentialID: [UInt8]) async throws -> Passkey? {
        try await Self.passkeys(database.sql(
            "SELECT \(unescaped: Self.columns) FROM passkeys WHERE tenant_id = \(tenant) AND credential_id = \(ByteBuffer(bytes: credentialID))",
            logger: logger)).first
    }

    /// Saves a new passkey; false when the credential is registered already.
    func insert(
        tenant: String, userID: String, credentialID: [UInt8], publicKey: [UInt8], algorithm: Int64, signCount: UInt32, transports: [String],
        name: String
    ) async throws -> Passkey? {
        let rows = try await database.sql(
            """
            INSERT INTO passkeys (tenant_id, credential_id, key_id, user_id, name, public_key, algorithm, sign_count, transports)
            VALUES (\(tenant), \(ByteBuffer(bytes: credentialID)), \(UUID().uuidString.lowercased()), \(userID), \(name),
                    \(ByteBuffer(bytes: publicKey)), \(Int(algorithm)), \(Int64(signCount)), \(transports))
            ON CONFLICT DO NOTHING RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        return try await Self.passkeys(rows).first
    }

    /// Moves the counter forward (only forward: of two racing uses of one assertion, one
    /// wins) and records the use; false when another use got there first.
    func used(tenant: String, credentialID: [UInt8], from old: UInt32, to new: UInt32, use: JSONValue) async throws -> Bool {
        let rows = try await database.sql(
            """
            UPDATE passkeys SET sign_count = \(Int64(new)), last_use = \(CanonicalJSON.string(use))::jsonb
            WHERE tenant_id = \(tenant) AND credential_id = \(ByteBuffer(bytes: credentialID)) AND sign_count = \(Int64(old))
            RETURNING key_id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    func rename(tenant: String, userID: String, keyID: String, name: String) async throws -> Passkey? {
        try await Self.passkeys(database.sql(
            """
            UPDATE passkeys SET name = \(name) WHERE tenant_id = \(tenant) AND user_id = \(userID) AND key_id = \(keyID)
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)).first
    }

    func delete(tenant: String, userID: String, keyID: String) async throws -> Bool {
        let rows = try await database.sql(
            "DELETE FROM passkeys WHERE tenant_id = \(tenant) AND user_id = \(userID) AND key_id = \(keyID) RETURNING key_id", logger: logger)
        for try await _ in rows { return true }
        return false
    }
}
