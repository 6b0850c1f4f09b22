import Crypto
import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// API keys: a user's own (`/api-keys`) and every key of a tenant for its admins
/// (`/admin/api-keys`). A key is shown once; the table keeps its SHA-256.
struct APIKeyRoutes: Sendable {
    let vault: Vault

    func add(to router: Router<VaultContext>) {
        // Who calls is known before any handler runs: an API key or a bearer token.
        let admin = router.administered(by: vault.authenticator)
        admin.post("api-keys") { request, context in try await create(request, context, admin: false) }
        admin.get("api-keys") { request, context in try await list(request, context, admin: false) }
        admin.post("api-keys/:key_id/regenerate") { request, context in try await regenerate(request, context, admin: false) }
        admin.post("admin/api-keys") { request, context in try await create(request, context, admin: true) }
        admin.get("admin/api-keys") { request, context in try await list(request, context, admin: true) }
        admin.post("admin/api-keys/:key_id/regenerate") { request, context in try await regenerate(request, context, admin: true) }
    }

    static func newKey() -> String { "vk_" + Base64URL.encode(SecureRandom.bytes(32)) }

    static func hash(_ key: String) -> [UInt8] { sha256(key) }

    static func json(_ row: APIKeyStore.Row, key: String? = nil, withUsername: Bool) -> JSONValue {
        var members: [String: JSONValue] = [
            "key_id": .string(row.0.uuidString.lowercased()), "key_hash": .string(SecureRandom.hexString(row.1.readableBytesView)),
            "user_id": row.2.map { .string($0) } ?? .null, "tenant_id": .string(row.3),
            "created_at": (try? JSONParser.parse(Array(row.4.utf8))) ?? .null, "name": .string(row.5),
            "scopes": .array(row.6.map { .string($0) }),
            "last_use_at": row.7.flatMap { try? JSONParser.parse(Array($0.utf8)) } ?? .null, "is_active": .bool(row.8),
        ]
        if let key { members["api_key"] = .string(key) }
        if withUsername { members["username"] = .string(row.9 ?? "") }
        return .object(members)
    }

    func create(_ request: Request, _ context: VaultContext, admin: Bool) async throws -> Response {
        let principal = try context.principal()
        var fields = Fields(try await request.jsonObject(context: context))
        let nameField = fields.string("name", max: 128)
        let scopesField = fields.strings("scopes", maxCount: 20, maxLength: 64)
        if scopesField == nil, fields.problems.allSatisfy({ $0["loc"] != ["body", "scopes"] }) {
            fields.problem("scopes", "Field required", type: "missing")
        }
        let tenantField = fields.string("tenant_id", max: 64)
        let owner = admin ? fields.string("user_id", required: false, max: 128) : nil
        for scope in scopesField ?? [] where AdminScope(rawValue: scope) == nil {
            fields.problem("scopes", "Unknown scope '\(scope)'; known: \(AdminScope.allCases.map(\.rawValue).joined(separator: ", "))", type: "enum")
        }
        let (name, scopes, tenant) = try fields.checked(nameField, scopesField, tenantField)
        let userID: String?
        if admin {
            try principal.require(.apiKeysAdmin, tenant: tenant)
            userID = owner ?? (principal.tenant == tenant ? principal.userID : nil)
        } else {
            userID = try principal.requireUser().userID
        }
        try principal.requireGrantable(scopes, tenant: tenant)
        _ = try await vault.tenants.require(tenant)
        if let userID, try await vault.users.find(tenant: tenant, id: userID) == nil { throw UserRoutes.notFound }
        let key = Self.newKey()
        let created = CanonicalJSON.string(AccessInfo.block(request, context: context))
        guard let row = try await vault.apiKeys.insert(
            hash: Self.hash(key), tenant: tenant, userID: userID, name: name, scopes: scopes, created: created)
        else { throw AppError.internalError }
        return .json(Self.json(row, key: key, withUsername: false), status: .created)
    }

    func list(_ request: Request, _ context: VaultContext, admin: Bool) async throws -> Response {
        let principal = try context.principal()
        var query = try Fields(query: request)
        let tenant = query.string("tenant_id", required: !admin, max: 64)
        try query.check()
        let owner: String?
        let tenantFilter: String?
        if admin {
            try principal.require(.apiKeysAdmin, tenant: tenant ?? principal.tenant)
            tenantFilter = tenant ?? principal.tenant
            owner = nil
        } else {
            let me = try principal.requireUser()
            guard me.tenant == tenant else { throw AppError.forbidden("Not allowed for tenant '\(tenant ?? "")'.") }
            tenantFilter = tenant
            owner = me.userID
        }
        let keys = try await vault.apiKeys.list(tenant: tenantFilter, owner: owner)
        return .json(["api_keys": .array(keys.map { Self.json($0, withUsername: true) })])
    }

    func regenerate(_ request: Request, _ context: VaultContext, admin: Bool) async throws -> Response {
        guard let id = UUID(uuidString: try context.parameters.require("key_id")) else {
            throw VaultError.notFound("API key")
        }
        let principal = try context.principal()
        guard let (tenant, owner, scopes) = try await vault.apiKeys.grant(of: id) else { throw VaultError.notFound("API key") }
        if admin {
            try principal.require(.apiKeysAdmin, tenant: tenant)
        } else {
            let me = try principal.requireUser()
            // Another user's key is as good as absent.
            guard me.tenant == tenant, me.userID == owner else {
                throw VaultError.notFound("API key")
            }
        }
        // A regenerated key keeps its scopes: whoever regenerates it must hold them all.
        try principal.requireGrantable(scopes, tenant: tenant)
        let key = Self.newKey()
        guard let row = try await vault.apiKeys.rotate(id, hash: Self.hash(key)) else {
            throw VaultError.notFound("API key")
        }
        return .json(Self.json(row, key: key, withUsername: false))
    }
}
