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

    func add(to router: Router<SuiteContext>) {
        router.post("api-keys") { request, context in try await create(request, context, admin: false) }
        router.get("api-keys") { request, context in try await list(request, context, admin: false) }
        router.post("api-keys/:key_id/regenerate") { request, context in try await regenerate(request, context, admin: false) }
        router.post("admin/api-keys") { request, context in try await create(request, context, admin: true) }
        router.get("admin/api-keys") { request, context in try await list(request, context, admin: true) }
        router.post("admin/api-keys/:key_id/regenerate") { request, context in try await regenerate(request, context, admin: true) }
    }

    static func newKey() -> String { "vk_" + Base64URL.encode(SecureRandom.bytes(32)) }

    static func hash(_ key: String) -> [UInt8] { sha256(key) }

    static let columns = "k.key_id, k.key_hash, k.user_id, k.tenant_id, k.created::text, k.name, k.scopes, k.last_use::text, k.is_active, u.username"

    static func json(_ row: (UUID, ByteBuffer, String?, String, String, String, [String], String?, Bool, String?), key: String? = nil, withUsername: Bool) -> JSONValue {
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

    func create(_ request: Request, _ context: SuiteContext, admin: Bool) async throws -> Response {
        let principal = try await vault.authenticator.principal(request, context: context)
        var fields = Fields(try await request.jsonObject(context: context))
        let name = fields.string("name", max: 128)
        let scopes = fields.strings("scopes", maxCount: 20, maxLength: 64)
        if scopes == nil, fields.problems.allSatisfy({ $0["loc"] != ["body", "scopes"] }) { fields.problem("scopes", "Field required", type: "missing") }
        let tenant = fields.string("tenant_id", max: 64)
        let owner = admin ? fields.string("user_id", required: false, max: 128) : nil
        for scope in scopes ?? [] where AdminScope(rawValue: scope) == nil {
            fields.problem("scopes", "Unknown scope '\(scope)'; known: \(AdminScope.allCases.map(\.rawValue).joined(separator: ", "))", type: "enum")
        }
        try fields.check()
        let userID: String?
        if admin {
            try principal.require(.apiKeysAdmin, tenant: tenant)
            userID = owner ?? (principal.tenant == tenant ? principal.userID : nil)
        } else {
            userID = try principal.requireUser().userID
        }
        try principal.requireGrantable(scopes!, tenant: tenant!)
        _ = try await vault.tenants.require(tenant!)
        if let userID, try await vault.users.find(tenant: tenant!, id: userID) == nil { throw UserRoutes.notFound }
        let key = Self.newKey()
        let created = CanonicalJSON.string(AccessInfo.block(request, context: context))
        let rows = try await vault.database.query(
            """
            WITH k AS (
                INSERT INTO api_keys (key_id, key_hash, tenant_id, user_id, name, scopes, created)
                VALUES (\(UUID()), \(ByteBuffer(bytes: Self.hash(key))), \(tenant!), \(userID), \(name!), \(scopes!), \(created)::jsonb)
                RETURNING *
            )
            SELECT \(unescaped: Self.columns) FROM k LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.user_id = k.user_id
            """, logger: vault.logger)
        for try await row in rows.decode((UUID, ByteBuffer, String?, String, String, String, [String], String?, Bool, String?).self) {
            return .json(Self.json(row, key: key, withUsername: false), status: .created)
        }
        throw AppError.internalError
    }

    func list(_ request: Request, _ context: SuiteContext, admin: Bool) async throws -> Response {
        let principal = try await vault.authenticator.principal(request, context: context)
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
            guard me.tenant == tenant else { throw AppError.forbidden("Not allowed for tenant '\(tenant!)'.") }
            tenantFilter = tenant
            owner = me.userID
        }
        let rows = try await vault.database.query(
            """
            SELECT \(unescaped: Self.columns) FROM api_keys k LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.user_id = k.user_id
            WHERE (\(tenantFilter)::text IS NULL OR k.tenant_id = \(tenantFilter)) AND (\(owner)::text IS NULL OR k.user_id = \(owner))
            ORDER BY k.created_at, k.key_id LIMIT 1000
            """, logger: vault.logger)
        var keys: [JSONValue] = []
        for try await row in rows.decode((UUID, ByteBuffer, String?, String, String, String, [String], String?, Bool, String?).self) {
            keys.append(Self.json(row, withUsername: true))
        }
        return .json(["api_keys": .array(keys)])
    }

    func regenerate(_ request: Request, _ context: SuiteContext, admin: Bool) async throws -> Response {
        guard let id = UUID(uuidString: try context.parameters.require("key_id")) else {
            throw AppError(status: .notFound, code: "not_found", detail: "API key not found")
        }
        let principal = try await vault.authenticator.principal(request, context: context)
        let rows = try await vault.database.query(
            "SELECT tenant_id, user_id, scopes FROM api_keys WHERE key_id = \(id)", logger: vault.logger)
        var found: (String, String?, [String])?
        for try await row in rows.decode((String, String?, [String]).self) { found = row }
        guard let (tenant, owner, scopes) = found else { throw AppError(status: .notFound, code: "not_found", detail: "API key not found") }
        if admin {
            try principal.require(.apiKeysAdmin, tenant: tenant)
        } else {
            let me = try principal.requireUser()
            // Another user's key is as good as absent.
            guard me.tenant == tenant, me.userID == owner else {
                throw AppError(status: .notFound, code: "not_found", detail: "API key not found")
            }
        }
        // A regenerated key keeps its scopes: whoever regenerates it must hold them all.
        try principal.requireGrantable(scopes, tenant: tenant)
        let key = Self.newKey()
        let updated = try await vault.database.query(
            """
            WITH k AS (UPDATE api_keys SET key_hash = \(ByteBuffer(bytes: Self.hash(key))), last_use = NULL WHERE key_id = \(id) RETURNING *)
            SELECT \(unescaped: Self.columns) FROM k LEFT JOIN users u ON u.tenant_id = k.tenant_id AND u.user_id = k.user_id
            """, logger: vault.logger)
        for try await row in updated.decode((UUID, ByteBuffer, String?, String, String, String, [String], String?, Bool, String?).self) {
            return .json(Self.json(row, key: key, withUsername: false))
        }
        throw AppError(status: .notFound, code: "not_found", detail: "API key not found")
    }
}
