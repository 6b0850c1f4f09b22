import Foundation
import Hummingbird
import SuiteCore
import SuiteHTTP

struct TenantRoutes: Sendable {
    let vault: Vault

    func add(to router: Router<VaultContext>) {
        // Who calls is known before any handler runs: an API key or a bearer token.
        let admin = router.administered(by: vault.authenticator)
        admin.get("tenants") { request, context in try await list(request, context) }
        admin.post("tenants") { request, context in try await create(request, context) }
        admin.get("tenants/:tenant_id") { request, context in try await read(request, context) }
        admin.put("tenants/:tenant_id") { request, context in try await update(request, context) }
    }

    func list(_ request: Request, _ context: VaultContext) async throws -> Response {
        let principal = try context.principal()
        try principal.require(.tenantsRead, tenant: principal.tenant)
        // A tenant's own principals see their tenant; the operator's see all.
        let everything = principal.mayAdminister(nil)
        let tenants = try await vault.tenants.list(everything: everything, own: principal.tenant)
        return .json(["tenants": .array(tenants.map(\.json))])
    }

    func create(_ request: Request, _ context: VaultContext) async throws -> Response {
        let principal = try context.principal()
        try principal.require(.tenantsWrite, tenant: nil)
        var fields = Fields(try await request.jsonObject(context: context))
        let idField = fields.string("tenant_id", max: 64, pattern: .identifier)
        let settings = Tenant.settings(from: &fields)
        let id = try fields.checked(idField)
        guard try await vault.tenants.create(Tenant(id: id, settings: settings)) else {
            throw VaultError.exists("Tenant")
        }
        vault.logger.notice("tenant created", metadata: ["tenant": "\(id)"])
        return .null(status: .created)
    }

    func read(_ request: Request, _ context: VaultContext) async throws -> Response {
        let id = try context.parameters.require("tenant_id")
        let principal = try context.principal()
        try principal.require(.tenantsRead, tenant: id)
        return .json(try await vault.tenants.require(id).json)
    }

    func update(_ request: Request, _ context: VaultContext) async throws -> Response {
        let id = try context.parameters.require("tenant_id")
        let principal = try context.principal()
        try principal.require(.tenantsWrite, tenant: id)
        let existing = try await vault.tenants.require(id)
        var fields = Fields(try await request.jsonObject(context: context))
        let settings = Tenant.settings(from: &fields, previous: existing.settings)
        try fields.check()
        try await vault.tenants.update(id, settings: settings)
        return .null()
    }
}
