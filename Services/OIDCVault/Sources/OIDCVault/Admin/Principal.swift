import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// The scopes of the admin API. An API key holds some; a user with the `admin` role
/// holds all of them in their tenant.
enum AdminScope: String, CaseIterable, Sendable {
    case tenantsRead = "tenants:read", tenantsWrite = "tenants:write"
    case clientsRead = "clients:read", clientsWrite = "clients:write"
    case usersRead = "users:read", usersWrite = "users:write"
    case blocksRead = "blocks:read", blocksWrite = "blocks:write"
    case apiKeysAdmin = "api-keys:admin"

    static let all = Set(allCases.map(\.rawValue))
}

/// Who calls the admin API: the operator's bootstrap key, an API key, or a user's bearer
/// token ("APIKeyHeaderHTTPBearer").
struct Principal: Sendable {
    enum Kind: Sendable, Equatable {
        case operatorKey
        case apiKey(UUID)
        case user
    }

    let kind: Kind
    /// The tenant it belongs to; nil for the operator key.
    let tenant: String?
    let userID: String?
    let scopes: Set<String>
    /// Principals of the default tenant (the operator's own) administer every tenant.
    let defaultTenant: String

    /// Throws 403 unless the principal holds `scope` for `tenant` (nil: across tenants).
    func require(_ scope: AdminScope, tenant target: String?) throws(AppError) {
        guard scopes.contains(scope.rawValue) else {
            throw AppError(status: .forbidden, code: "forbidden", detail: "Missing scope '\(scope.rawValue)'.")
        }
        guard mayAdminister(target) else {
            throw AppError(status: .forbidden, code: "forbidden", detail: "Not allowed for tenant '\(target ?? "*")'.")
        }
    }

    func mayAdminister(_ target: String?) -> Bool {
        guard let tenant else { return true }
        return tenant == defaultTenant || tenant == target
    }

    /// The user behind a bearer token or an API key; 403 for the operator key, which is
    /// nobody's.
    func requireUser() throws(AppError) -> (tenant: String, userID: String) {
        guard let tenant, let userID else {
            throw AppError(status: .forbidden, code: "forbidden", detail: "This operation needs a user, not the operator key.")
        }
        return (tenant, userID)
    }
}

/// Resolves the caller of an admin or self-service route.
struct Authenticator: Sendable {
    let database: PostgresClient
    let logger: Logger
    let settings: VaultSettings
    let tokens: TokenVerifier

    static let unauthenticated = AppError(
        status: .unauthorized, code: "unauthorized", detail: "Not authenticated",
        headers: [.wwwAuthenticate: "Bearer"])

    func principal(_ request: Request, context: some SuiteRequestContext) async throws -> Principal {
        if let key = request.headers[HTTPField.Name("X-API-Key")!] {
            return try await apiKey(key, request: request, context: context)
        }
        guard let header = request.headers[.authorization], let token = AuthorizationHeader.token(header, allowBare: false) else {
            throw Self.unauthenticated
        }
        let access = try await tokens.accessToken(token)
        guard let userID = access.userID else {
            throw AppError(status: .forbidden, code: "forbidden", detail: "A client's token cannot call the admin API.")
        }
        let rows = try await database.query(
            "SELECT roles FROM users WHERE tenant_id = \(access.tenant) AND user_id = \(userID) AND NOT is_disabled",
            logger: logger)
        for try await roles in rows.decode([String].self) {
            return Principal(
                kind: .user, tenant: access.tenant, userID: userID,
                scopes: roles.contains("admin") ? AdminScope.all : [], defaultTenant: settings.defaultTenant)
        }
        throw Self.unauthenticated
    }

    private func apiKey(_ key: String, request: Request, context: some SuiteRequestContext) async throws -> Principal {
        let hash = sha256(key)
        if let operatorHash = settings.adminKeyHash, constantTimeEquals(hash, operatorHash) {
            return Principal(kind: .operatorKey, tenant: nil, userID: nil, scopes: AdminScope.all, defaultTenant: settings.defaultTenant)
        }
        // Looked up by the hash of a 256-bit secret: the index compares digests, which
        // reveals nothing usable about the key; the row records this use in the same step.
        let use = CanonicalJSON.string(AccessInfo.block(request, context: context))
        let rows = try await database.query(
            """
            UPDATE api_keys SET last_use = \(use)::jsonb WHERE key_hash = \(ByteBuffer(bytes: hash)) AND is_active
            RETURNING key_id, tenant_id, user_id, scopes
            """, logger: logger)
        for try await (id, tenant, userID, scopes) in rows.decode((UUID, String, String?, [String]).self) {
            return Principal(kind: .apiKey(id), tenant: tenant, userID: userID, scopes: Set(scopes), defaultTenant: settings.defaultTenant)
        }
        throw AppError(status: .unauthorized, code: "unauthorized", detail: "Invalid API key")
    }
}
