import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SuiteCore
import SuiteHTTP

/// The SQL of tenants.
struct TenantStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    func find(_ id: String) async throws -> Tenant? {
        let rows = try await database.query("SELECT settings::text FROM tenants WHERE tenant_id = \(id)", logger: logger)
        for try await text in rows.decode(String.self) {
            return Tenant(id: id, settingsJSON: text)
        }
        return nil
    }

    func require(_ id: String) async throws -> Tenant {
        guard let tenant = try await find(id) else { throw AppError(status: .notFound, code: "not_found", detail: "Tenant not found") }
        return tenant
    }

    /// Creates the tenant unless it exists; true when it was created.
    @discardableResult
    func create(_ tenant: Tenant) async throws -> Bool {
        let rows = try await database.query(
            """
            INSERT INTO tenants (tenant_id, settings) VALUES (\(tenant.id), \(CanonicalJSON.string(.object(tenant.settings)))::jsonb)
            ON CONFLICT (tenant_id) DO NOTHING RETURNING 1
            """, logger: logger)
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }
}

struct TenantRoutes: Sendable {
    let vault: Vault

    func add(to router: Router<SuiteContext>) {
        router.get("tenants") { request, context in try await list(request, context) }
        router.post("tenants") { request, context in try await create(request, context) }
        router.get("tenants/:tenant_id") { request, context in try await read(request, context) }
        router.put("tenants/:tenant_id") { request, context in try await update(request, context) }
    }

    func list(_ request: Request, _ context: SuiteContext) async throws -> Response {
        let principal = try await vault.authenticator.principal(request, context: context)
        try principal.require(.tenantsRead, tenant: principal.tenant)
        // A tenant's own principals see their tenant; the operator's see all.
        let everything = principal.mayAdminister(nil)
        let rows = try await vault.database.query(
            """
            SELECT tenant_id, settings::text FROM tenants WHERE \(everything) OR tenant_id = \(principal.tenant ?? "")
            ORDER BY created_at, tenant_id LIMIT 1000
            """, logger: vault.logger)
        var tenants: [JSONValue] = []
        for try await (id, text) in rows.decode((String, String).self) {
            tenants.append(Tenant(id: id, settingsJSON: text).json)
        }
        return .json(["tenants": .array(tenants)])
    }

    func create(_ request: Request, _ context: SuiteContext) async throws -> Response {
        let principal = try await vault.authenticator.principal(request, context: context)
        try principal.require(.tenantsWrite, tenant: nil)
        var fields = Fields(try await request.jsonObject(context: context))
        let id = fields.string("tenant_id", max: 64, pattern: .identifier)
        let settings = Tenant.settings(from: &fields)
        try fields.check()
        guard try await vault.tenants.create(Tenant(id: id!, settings: settings)) else {
            throw AppError(status: .conflict, code: "conflict", detail: "Tenant already exists")
        }
        vault.logger.notice("tenant created", metadata: ["tenant": "\(id!)"])
        return .null(status: .created)
    }

    func read(_ request: Request, _ context: SuiteContext) async throws -> Response {
        let id = try context.parameters.require("tenant_id")
        let principal = try await vault.authenticator.principal(request, context: context)
        try principal.require(.tenantsRead, tenant: id)
        return .json(try await vault.tenants.require(id).json)
    }

    func update(_ request: Request, _ context: SuiteContext) async throws -> Response {
        let id = try context.parameters.require("tenant_id")
        let principal = try await vault.authenticator.principal(request, context: context)
        try principal.require(.tenantsWrite, tenant: id)
        let existing = try await vault.tenants.require(id)
        var fields = Fields(try await request.jsonObject(context: context))
        let settings = Tenant.settings(from: &fields, previous: existing.settings)
        try fields.check()
        try await vault.database.query(
            "UPDATE tenants SET settings = \(CanonicalJSON.string(.object(settings)))::jsonb, updated_at = now() WHERE tenant_id = \(id)",
            logger: vault.logger)
        return .null()
    }
}
