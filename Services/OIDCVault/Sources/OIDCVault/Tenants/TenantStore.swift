import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of tenants.
struct TenantStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    func find(_ id: String) async throws -> Tenant? {
        let rows = try await database.sql("SELECT settings::text FROM tenants WHERE tenant_id = \(id)", logger: logger)
        for try await text in rows.decode(String.self) {
            return Tenant(id: id, settingsJSON: text)
        }
        return nil
    }

    func require(_ id: String) async throws -> Tenant {
        guard let tenant = try await find(id) else { throw VaultError.notFound("Tenant") }
        return tenant
    }

    /// Creates the tenant unless it exists; true when it was created.
    @discardableResult
    func create(_ tenant: Tenant) async throws -> Bool {
        let rows = try await database.sql(
            """
            INSERT INTO tenants (tenant_id, settings) VALUES (\(tenant.id), \(CanonicalJSON.string(.object(tenant.settings)))::jsonb)
            ON CONFLICT (tenant_id) DO NOTHING RETURNING 1
            """, logger: logger)
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }

    /// The tenants a principal sees: all of them for the operator's, else its own.
    func list(everything: Bool, own: String?) async throws -> [Tenant] {
        let rows = try await database.sql(
            """
            SELECT tenant_id, settings::text FROM tenants WHERE \(everything) OR tenant_id = \(own ?? "")
            ORDER BY created_at, tenant_id LIMIT 1000
            """, logger: logger)
        var tenants: [Tenant] = []
        for try await (id, text) in rows.decode((String, String).self) { tenants.append(Tenant(id: id, settingsJSON: text)) }
        return tenants
    }

    func update(_ id: String, settings: [String: JSONValue]) async throws {
        try await database.sql(
            "UPDATE tenants SET settings = \(CanonicalJSON.string(.object(settings)))::jsonb, updated_at = now() WHERE tenant_id = \(id)",
            logger: logger)
    }
}
