import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of API keys. A key's row comes with its owner's username.
struct APIKeyStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    /// key_id, key_hash, user_id, tenant_id, created (JSON text), name, scopes, last_use (JSON text), is_active, username.
    typealias Row = (UUID, ByteBuffer, String?, String, String, String, [String], String?, Bool, String?)

    static let columns = "k.key_id, k.key_hash, k.user_id, k.tenant_id, k.created::text, k.name, k.scopes, k.last_use::text, k.is_active, u.username"

    private func first(_ rows: PostgresRowSequence) async throws -> Row? {
        for try await row in rows.decode(Row.self) { return row }
        return nil
    }

    func insert(hash: [UInt8], tenant: String, userID: String?, name: String, scopes: [String], created: String) async throws -> Row? {
        try await first(database.sql(
            """
            WITH k AS (
                INSERT INTO api_keys (key_id, key_hash, tenant_id, user_id, name, scopes, created)
                VALUES (\(UUID()), \(ByteBuffer(bytes: hash)), \(tenant), \(userID), \(name), \(scopes), \(created)::jsonb)
                RETURNING *
            )
            SELECT \(unescaped: Self.columns) FROM k LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.user_id = k.user_id
            """, logger: logger))
    }

    /// Keys of `tenant` (all tenants when nil) owned by `owner` (any owner when nil).
    func list(tenant: String?, owner: String?) async throws -> [Row] {
        let rows = try await database.sql(
            """
            SELECT \(unescaped: Self.columns) FROM api_keys k LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.user_id = k.user_id
            WHERE (\(tenant)::text IS NULL OR k.tenant_id = \(tenant)) AND (\(owner)::text IS NULL OR k.user_id = \(owner))
            ORDER BY k.created_at, k.key_id LIMIT 1000
            """, logger: logger)
        var keys: [Row] = []
        for try await row in rows.decode(Row.self) { keys.append(row) }
        return keys
    }

    /// Whose key it is and what it grants.
    func grant(of id: UUID) async throws -> (tenant: String, owner: String?, scopes: [String])? {
        let rows = try await database.sql("SELECT tenant_id, user_id, scopes FROM api_keys WHERE key_id = \(id)", logger: logger)
        for try await row in rows.decode((String, String?, [String]).self) { return row }
        return nil
    }

    /// Gives the key a new secret (its hash) and forgets its last use.
    func rotate(_ id: UUID, hash: [UInt8]) async throws -> Row? {
        try await first(database.sql(
            """
            WITH k AS (UPDATE api_keys SET key_hash = \(ByteBuffer(bytes: hash)), last_use = NULL WHERE key_id = \(id) RETURNING *)
            SELECT \(unescaped: Self.columns) FROM k LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.user_id = k.user_id
            """, logger: logger))
    }

    /// The active key with this hash, its use recorded in the same statement: id,
    /// tenant, owner, scopes. The index compares digests of 256-bit secrets.
    func use(hash: [UInt8], access: String) async throws -> (id: UUID, tenant: String, owner: String?, scopes: [String])? {
        let rows = try await database.sql(
            """
            UPDATE api_keys SET last_use = \(access)::jsonb WHERE key_hash = \(ByteBuffer(bytes: hash)) AND is_active
            RETURNING key_id, tenant_id, user_id, scopes
            """, logger: logger)
        for try await row in rows.decode((UUID, String, String?, [String]).self) { return row }
        return nil
    }
}
