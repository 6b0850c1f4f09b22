import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP

struct ClientRoutes: Sendable {
    let vault: Vault

    func add(to router: Router<VaultContext>, access: RouteAccess) {
        // Who calls is known before any handler runs: an API key or a bearer token.
        let admin = router.administered(by: vault.authenticator)
        admin.get("clients") { request, context in try await list(request, context) }
        admin.post("clients") { request, context in try await create(request, context) }
        admin.put("clients/:client_id") { request, context in try await update(request, context) }
        // A login page shows the client it logs into before anyone is logged in.
        access.open(router) {
            router.get("clients/public") { request, context in try await publicClient(request, context, withTenant: false) }
            router.get("clients/public/tenant") { request, context in try await publicClient(request, context, withTenant: true) }
        }
    }

    func list(_ request: Request, _ context: VaultContext) async throws -> Response {
        // Who asks before what is asked: a caller without credentials learns nothing
        // of the parameters (FastAPI runs its security dependencies first too).
        let principal = try context.principal()
        var query = try Fields(query: request)
        let tenantField = query.string("tenant_id", max: 64)
        let skip = query.int("skip", range: 0...1_000_000) ?? 0
        let limit = query.int("limit", range: 1...1000) ?? 100
        let tenant = try query.checked(tenantField)
        try principal.require(.clientsRead, tenant: tenant)
        let clients = try await vault.clients.list(tenant: tenant, skip: skip, limit: limit)
        return .json(["clients": .array(clients.map { $0.json() })])
    }

    func create(_ request: Request, _ context: VaultContext) async throws -> Response {
        let principal = try context.principal()
        var fields = Fields(try await request.jsonObject(context: context))
        let idField = fields.string("client_id", max: 128, pattern: .identifier)
        let tenantField = fields.string("tenant_id", max: 64)
        let document = Client.document(from: &fields)
        let (id, tenant) = try fields.checked(idField, tenantField)
        try principal.require(.clientsWrite, tenant: tenant)
        _ = try await vault.tenants.require(tenant)
        // A confidential client gets a secret made here, shown in this answer only.
        let secret = document["client_type"] == "confidential" ? Client.newSecret() : nil
        guard try await vault.clients.insert(tenant: tenant, id: id, document: document, secretHash: secret.map(Client.hash)) else {
            throw VaultError.exists("Client")
        }
        let client = Client(id: id, tenant: tenant, document: document, secretHash: nil)
        return .json(client.json(secret: secret))
    }

    func update(_ request: Request, _ context: VaultContext) async throws -> Response {
        let id = try context.parameters.require("client_id")
        let principal = try context.principal()
        var fields = Fields(try await request.jsonObject(context: context))
        if let bodyID = fields.string("client_id", max: 128), bodyID != id {
            fields.problem("client_id", "client_id must match the path", type: "value_error")
        }
        let tenantField = fields.string("tenant_id", max: 64)
        let document = Client.document(from: &fields)
        let tenant = try fields.checked(tenantField)
        try principal.require(.clientsWrite, tenant: tenant)
        guard let existing = try await vault.clients.find(tenant: tenant, id: id) else {
            throw VaultError.notFound("Client")
        }
        // A client made confidential gets its first secret; one made public loses it.
        var secretHash = existing.secretHash
        if document["client_type"] == "public" { secretHash = nil }
        if document["client_type"] == "confidential", existing.secretHash == nil {
            throw AppError.validation("client_type", "A public client cannot become confidential; create a new client for a secret.")
        }
        try await vault.clients.update(tenant: tenant, id: id, document: document, secretHash: secretHash)
        return .null()
    }

    func publicClient(_ request: Request, _ context: VaultContext, withTenant: Bool) async throws -> Response {
        var query = try Fields(query: request)
        let idField = query.string("client_id", max: 128)
        let tenantField = query.string("tenant_id", max: 64)
        let (id, tenantID) = try query.checked(idField, tenantField)
        guard let tenant = try await vault.tenants.find(tenantID), let client = try await vault.clients.find(tenant: tenant.id, id: id)
        else { throw VaultError.notFound("Client") }
        let name = tenant.settings["display_name"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? tenant.id
        var clientJSON = client.publicJSON(tenantName: name)
        if case .object(var members) = clientJSON {
            // A login page offers sign-up only when both the tenant and the client allow it.
            members["register_enable"] = .bool(tenant.registerEnable && (client.document["register_enable"]?.boolValue ?? false))
            clientJSON = .object(members)
        }
        guard withTenant else { return Response.json(bytes: CanonicalJSON.bytes(clientJSON)) }
        return Response.json(bytes: CanonicalJSON.bytes(["client": clientJSON, "tenant": tenant.publicJSON]))
    }
}
