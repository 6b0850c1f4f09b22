import Crypto
import Foundation
import Logging
import PostgresNIO
import SuiteCore
import SuiteSigning
import Synchronization

/// A relying party of a tenant.
struct Client: Sendable {
    enum ClientType: String, CaseIterable, Sendable {
        case `public`, confidential
    }

    enum AuthMethod: String, CaseIterable, Sendable {
        case clientSecretPost = "client_secret_post", clientSecretBasic = "client_secret_basic", none
    }

    let id: String
    let tenant: String
    /// Everything the admin API shows but the secret.
    let document: [String: JSONValue]
    let secretHash: [UInt8]?
    // Read from the document once: the token endpoint asks on every grant.
    let type: ClientType
    let isLocked: Bool
    let signingAlgorithm: SigningAlgorithm
    let redirectURIs: [String]
    let postLogoutRedirectURIs: [String]
    let allowedScopes: Set<String>
    let authMethod: AuthMethod

    init(id: String, tenant: String, document: [String: JSONValue], secretHash: [UInt8]?) {
        self.id = id
        self.tenant = tenant
        self.document = document
        self.secretHash = secretHash
        type = document["client_type"]?.stringValue.flatMap(ClientType.init) ?? .confidential
        isLocked = document["is_lock"]?.boolValue ?? false
        signingAlgorithm = document["sing_alg"]?.stringValue.flatMap(SigningAlgorithm.init) ?? .eddsa
        redirectURIs = document["redirect_uris"]?.arrayValue?.compactMap(\.stringValue) ?? []
        postLogoutRedirectURIs = document["post_logout_redirect_uri"]?.arrayValue?.compactMap(\.stringValue) ?? []
        allowedScopes = Set(document["allowed_scopes"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        authMethod = document["token_endpoint_auth_method"]?.stringValue.flatMap(AuthMethod.init) ?? .clientSecretPost
    }

    func json(secret: String? = nil) -> JSONValue {
        var members = document
        members["client_id"] = .string(id)
        members["tenant_id"] = .string(tenant)
        members["client_secret"] = secret.map { .string($0) } ?? .null
        return .object(members)
    }

    /// What a login page may know (`/clients/public`): never the secret or the rules.
    func publicJSON(tenantName: String?) -> JSONValue {
        var members: [String: JSONValue] = ["client_id": .string(id), "tenant_id": .string(tenant)]
        for name in ["name", "logo_uri", "op_policy_url", "op_tos_url", "op_user_agreement_url", "client_uri", "client_logout_uri", "register_enable"] {
            members[name] = document[name] ?? .null
        }
        if let own = document["tenant_name"], own != .null {
            members["tenant_name"] = own
        } else {
            members["tenant_name"] = tenantName.map { .string($0) } ?? .null
        }
        members["has_profile"] = .bool(allowedScopes.contains("profile"))
        return .object(members)
    }

    /// Whether `secret` is this client's, in constant time.
    func verify(secret: String) -> Bool {
        guard let secretHash else { return false }
        return constantTimeEquals(sha256(secret), secretHash)
    }

    static func newSecret() -> String { SecureRandom.string(count: 48) }

    static func hash(_ secret: String) -> [UInt8] { sha256(secret) }

    /// The document of a create or update, defaults as the seed gives them.
    static func document(from fields: inout Fields) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        out["name"] = .string(fields.string("name", max: 256) ?? "")
        func uris(_ name: String) {
            let list = fields.strings(name, maxCount: 50) ?? []
            for uri in list where !isAcceptableRedirect(uri) {
                fields.problem(name, "URL must be absolute, without a fragment: \(uri)", type: "url_parsing")
            }
            out[name] = .array(list.map { .string($0) })
        }
        uris("redirect_uris")
        uris("post_logout_redirect_uri")
        out["allowed_scopes"] = .array((fields.strings("allowed_scopes", maxCount: 100, maxLength: 128) ?? ["openid", "profile", "email"]).map { .string($0) })
        out["token_endpoint_auth_method"] = .string((fields.choice("token_endpoint_auth_method", AuthMethod.self) ?? .clientSecretPost).rawValue)
        for name in ["logo_uri", "op_policy_url", "op_tos_url", "op_user_agreement_url", "client_uri", "client_logout_uri", "tenant_name"] {
            out[name] = fields.string(name, required: false, nullable: true, max: 2048).map { .string($0) } ?? .null
        }
        // Accepted for the seed's shape; the secret is always made here.
        _ = fields.string("client_secret", required: false, nullable: true, max: 2048)
        out["register_enable"] = .bool(fields.bool("register_enable") ?? false)
        let type = fields.choice("client_type", ClientType.self) ?? .confidential
        out["client_type"] = .string(type.rawValue)
        if type == .public { out["token_endpoint_auth_method"] = "none" }
        out["is_lock"] = .bool(fields.bool("is_lock") ?? false)
        out["sing_alg"] = .string((fields.choice("sing_alg", SigningAlgorithm.self) ?? .eddsa).rawValue)
        if let flow = fields.object("flow", nullable: true) {
            var nested = Fields(flow)
            let type = nested.string("type", max: 64)
            let issuer = nested.string("issuer", required: false, nullable: true, max: 2048)
            fields.absorb(nested, under: "flow")
            out["flow"] = ["type": type.map { .string($0) } ?? .null, "issuer": issuer.map { .string($0) } ?? .null]
        } else {
            out["flow"] = .null
        }
        return out
    }

    static func isAcceptableRedirect(_ uri: String) -> Bool {
        guard let components = URLComponents(string: uri), let scheme = components.scheme, !scheme.isEmpty,
            components.fragment == nil
        else { return false }
        if scheme == "http" || scheme == "https" { return components.host?.isEmpty == false }
        // Native apps' private-use schemes (RFC 8252 §7.1) carry a reverse domain name.
        return scheme.contains(".")
    }
}

/// The SQL of clients, and a two-second memo of the rows the token endpoint reads on
/// every grant (an admin's change reaches every replica within that time).
final class ClientStore: Sendable {
    let database: PostgresClient
    let logger: Logger
    private let memo = Mutex<[String: (client: Client?, at: ContinuousClock.Instant)]>([:])
    static let memoLifetime: Duration = .seconds(2)

    init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    func find(tenant: String, id: String) async throws -> Client? {
        let rows = try await database.sql(
            "SELECT document::text, secret_hash FROM clients WHERE tenant_id = \(tenant) AND client_id = \(id)", logger: logger)
        for try await (document, hash) in rows.decode((String, ByteBuffer?).self) {
            return Self.client(id: id, tenant: tenant, document: document, hash: hash)
        }
        return nil
    }

    /// `find`, remembered for two seconds (misses too, so unknown ids cannot flood the database).
    func cached(tenant: String, id: String) async throws -> Client? {
        let key = tenant + "\u{0}" + id
        let now = ContinuousClock.now
        if let entry = memo.withLock({ $0[key] }), now - entry.at < Self.memoLifetime { return entry.client }
        let client = try await find(tenant: tenant, id: id)
        memo.withLock { entries in
            if entries.count > 10_000 { entries.removeAll(keepingCapacity: true) }
            entries[key] = (client, now)
        }
        return client
    }

    func forget(tenant: String, id: String) {
        _ = memo.withLock { $0.removeValue(forKey: tenant + "\u{0}" + id) }
    }

    func list(tenant: String, skip: Int, limit: Int) async throws -> [Client] {
        let rows = try await database.sql(
            """
            SELECT client_id, document::text, secret_hash FROM clients WHERE tenant_id = \(tenant)
            ORDER BY created_at, client_id OFFSET \(skip) LIMIT \(limit)
            """, logger: logger)
        var out: [Client] = []
        for try await (id, document, hash) in rows.decode((String, String, ByteBuffer?).self) {
            out.append(Self.client(id: id, tenant: tenant, document: document, hash: hash))
        }
        return out
    }

    /// A row: the jsonb document as text, the secret's hash if any.
    private static func client(id: String, tenant: String, document: String, hash: ByteBuffer?) -> Client {
        Client(
            id: id, tenant: tenant, document: (try? JSONParser.parse(Array(document.utf8)))?.objectValue ?? [:],
            secretHash: hash.map { Array(buffer: $0) })
    }

    /// Creates the client unless its id is taken in the tenant; false when it was.
    func insert(tenant: String, id: String, document: [String: JSONValue], secretHash: [UInt8]?) async throws -> Bool {
        let rows = try await database.sql(
            """
            INSERT INTO clients (tenant_id, client_id, document, secret_hash)
            VALUES (\(tenant), \(id), \(CanonicalJSON.string(.object(document)))::jsonb, \(secretHash.map { ByteBuffer(bytes: $0) }))
            ON CONFLICT DO NOTHING RETURNING 1
            """, logger: logger)
        for try await _ in rows.decode(Int.self) { forget(tenant: tenant, id: id); return true }
        return false
    }

    func update(tenant: String, id: String, document: [String: JSONValue], secretHash: [UInt8]?) async throws {
        try await database.sql(
            """
            UPDATE clients SET document = \(CanonicalJSON.string(.object(document)))::jsonb,
                secret_hash = \(secretHash.map { ByteBuffer(bytes: $0) }), updated_at = now()
            WHERE tenant_id = \(tenant) AND client_id = \(id)
            """, logger: logger)
        forget(tenant: tenant, id: id)
    }
}
