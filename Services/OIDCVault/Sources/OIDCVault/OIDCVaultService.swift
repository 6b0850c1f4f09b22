public import ArgumentParser
import Foundation
public import Hummingbird
import Logging
import PostgresNIO
public import ServiceLifecycle
public import SuiteCore
public import SuiteHTTP
import SuiteMail
public import SuitePostgres
import Synchronization

/// OpenID Connect provider with tenants, clients and zero-knowledge image login.
public enum OIDCVaultService: SuiteService {
    public typealias Context = VaultContext
    public typealias Settings = VaultSettings

    public static let name = "oidc-vault"
    public static let defaultPort = 8084
    public static let defaultSchema = "vault"
    public static let publicPath = "/vault"
    public static let usesRateLimits = true

    /// The outbox tables whose commits wake their workers (`OutboxListener`); each has the
    /// trigger in the migrations.
    public static let outboxTables = ["mail_outbox"]

    public static var migrations: [Migration] {
        [
            Migration(fileName: "0001_init.sql", bytes: PackageResources._001_init_sql),
            Migration(fileName: "0002_vault.sql", bytes: PackageResources._002_vault_sql),
            Migration(fileName: "0003_outbox_limits.sql", bytes: PackageResources._003_outbox_limits_sql),
            Migration(fileName: "0004_refresh_successor.sql", bytes: PackageResources._004_refresh_successor_sql),
            Migration(fileName: "0005_step_up_and_root_issuer.sql", bytes: PackageResources._005_step_up_and_root_issuer_sql),
            Migration(fileName: "0006_outbox_notify.sql", bytes: PackageResources._006_outbox_notify_sql),
            Migration(fileName: "0007_scim.sql", bytes: PackageResources._007_scim_sql),
            Migration(fileName: "0008_passkeys.sql", bytes: PackageResources._008_passkeys_sql),
            Migration(fileName: "0009_external_id_index.sql", bytes: PackageResources._009_external_id_index_sql),
            Migration(fileName: "0010_username_prefix_index.sql", bytes: PackageResources._010_username_prefix_index_sql),
        ]
    }

    public static var openAPIDocument: [UInt8] { PackageResources.openapi_yaml }

    /// Token, introspection and revocation endpoints speak OAuth 2.0 errors (RFC 6749
    /// §5.2); everything else speaks FastAPI's `{"detail": …}`, as the seed does.
    /// The suite's operational routes keep problem+json.
    /// FastAPI's `{"detail": …}`, as the seed answers; the OAuth endpoints set their own
    /// (`DialectMiddleware(.oauth)` on their group in `TokenRoutes`).
    public static func errorDialect(forPath path: String) -> ErrorDialect {
        if path.hasPrefix("/internal/") || path.hasPrefix("/health/") || path == "/metrics" { return .problem() }
        if path.contains("/scim/v2") { return .scim }
        return .fastapi
    }

    public static func loadSettings(_ reader: ConfigReader) throws(ConfigurationError) -> VaultSettings {
        try VaultSettings.load(reader)
    }

    public static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: Settings) async throws {
        let vault = Vault(dependencies: dependencies, settings: settings)
        TenantRoutes(vault: vault).add(to: router)
        ClientRoutes(vault: vault).add(to: router, access: dependencies.access)
        SCIMRoutes(vault: vault).add(to: router)
        PasskeyRoutes(vault: vault).add(to: router, access: dependencies.access)
        ProvisionRoutes(vault: vault, verifier: dependencies.verifier).add(to: router)
        LoginPage(vault: vault).add(to: router, access: dependencies.access)
        UserRoutes(vault: vault).add(to: router)
        APIKeyRoutes(vault: vault).add(to: router)
        BlockRoutes(vault: vault).add(to: router)
        LoginRoutes(vault: vault).add(to: router, access: dependencies.access)
        StepUpRoutes(vault: vault).add(to: router, access: dependencies.access)
        AuthorizeRoutes(vault: vault).add(to: router, access: dependencies.access)
        TokenRoutes(vault: vault).add(to: router, access: dependencies.access)
        SessionRoutes(vault: vault).add(to: router)
    }

    public static func backgroundServices(dependencies: SuiteDependencies, settings: Settings) -> [any Service] {
        let outboxes = OutboxListener(
            database: dependencies.database, schema: dependencies.configuration.database.schema, tables: Self.outboxTables,
            logger: dependencies.logger)
        return [
            outboxes,
            DefaultTenant(tenants: TenantStore(database: dependencies.database, logger: dependencies.logger), id: settings.defaultTenant),
            OutboxWorker(
                database: dependencies.database, transport: settings.mail.makeTransport(), logger: dependencies.logger,
                doorbell: outboxes.doorbell("mail_outbox"), observer: dependencies.metrics),
            VaultJanitor.service(database: dependencies.database, logger: dependencies.logger),
        ]
    }

    public static var commands: [any ParsableCommand.Type] { [VaultKeysCommand.self, ClientCommand.self] }
}

/// Everything the vault's routes share, built once.
struct Vault: Sendable {
    let database: PostgresClient
    let logger: Logger
    let settings: VaultSettings
    let publicURL: String
    let issuers: Issuers
    let keys: KeyRing
    let tokens: TokenVerifier
    let issuer: TokenIssuer
    let authenticator: Authenticator
    let tenants: TenantStore
    let clients: ClientStore
    let users: UserStore
    let sessions: SessionStore
    let lockout: Lockout
    let credentials: CredentialStore
    let apiKeys: APIKeyStore
    let authRequests: AuthRequestStore
    let grants: GrantStore
    let rateLimiter: RateLimiter
    let login: ZKPLogin
    private let knownTenants: TenantMemo

    init(dependencies: SuiteDependencies, settings: VaultSettings) {
        database = dependencies.database
        logger = dependencies.logger
        self.settings = settings
        publicURL = dependencies.configuration.publicURL
        issuers = Issuers(publicURL: publicURL, defaultTenant: settings.defaultTenant)
        keys = KeyRing(database: database, logger: logger, atRestKey: settings.atRestKey, imported: settings.importedSigningKeys)
        tokens = TokenVerifier(keys: keys, issuers: issuers, database: database, logger: logger)
        issuer = TokenIssuer(keys: keys, issuers: issuers, settings: settings)
        tenants = TenantStore(database: database, logger: logger)
        clients = ClientStore(database: database, logger: logger)
        users = UserStore(database: database, logger: logger)
        sessions = SessionStore(database: database, logger: logger)
        lockout = Lockout(database: database, logger: logger)
        credentials = CredentialStore(database: database, logger: logger)
        apiKeys = APIKeyStore(database: database, logger: logger)
        authenticator = Authenticator(logger: logger, settings: settings, tokens: tokens, users: users, apiKeys: apiKeys)
        authRequests = AuthRequestStore(database: database, logger: logger)
        grants = GrantStore(database: database, logger: logger)
        rateLimiter = dependencies.rateLimiter
        login = ZKPLogin(store: credentials, keys: keys, atRestKey: settings.atRestKey, metrics: dependencies.metrics)
        knownTenants = TenantMemo()
    }

    /// Whether the tenant exists, remembered for five seconds: discovery and JWKS are
    /// read on every relying party's start and must not cost a query each.
    func tenantExists(_ id: String) async throws -> Bool {
        if let known = knownTenants.get(id) { return known }
        let exists = try await tenants.find(id) != nil
        knownTenants.put(id, exists)
        return exists
    }

    /// The discovery document of `tenant` under its own path, or (`atRoot`) of the default
    /// tenant at the root. Each names the issuer it is served under and endpoints that
    /// speak as that issuer, so a client of any tenant calls them as RFC 7662/7009 say,
    /// with nothing but its own credentials.
    func discoveryDocument(_ tenant: String, atRoot: Bool = false) -> [UInt8] {
        let cacheKey = atRoot ? "\u{0}root" : tenant
        if let cached = knownTenants.document(cacheKey) { return cached }
        let issuer = issuers.issuer(tenant, atRoot: atRoot)
        let document: JSONValue = [
            "issuer": .string(issuer),
            "authorization_endpoint": .string(issuer + "/authorize"),
            "token_endpoint": .string(issuer + (atRoot ? "/token" : "/oauth2/token")),
            "userinfo_endpoint": .string(issuer + "/userinfo"),
            "jwks_uri": .string(issuer + "/.well-known/jwks.json"),
            "end_session_endpoint": .string(publicURL + "/logout"),
            "introspection_endpoint": .string(issuer + "/introspect"),
            "revocation_endpoint": .string(issuer + "/revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", .string(TokenRoutes.tokenExchange)],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash", "preferred_username", "name", "email", "email_verified", "locale", "external_id", "tenant_id"],
            "authorization_response_iss_parameter_supported": true,
            "frontchannel_logout_supported": false,
        ]
        let bytes = CanonicalJSON.bytes(document)
        knownTenants.putDocument(cacheKey, bytes)
        return bytes
    }
}

final class TenantMemo: Sendable {
    private let entries = Mutex<[String: (exists: Bool, at: ContinuousClock.Instant)]>([:])
    private let documents = Mutex<[String: [UInt8]]>([:])

    func get(_ id: String) -> Bool? {
        entries.withLock { entries in
            guard let entry = entries[id], ContinuousClock.now - entry.at < .seconds(5) else { return nil }
            return entry.exists
        }
    }

    func put(_ id: String, _ exists: Bool) {
        entries.withLock { entries in
            if entries.count > 10_000 { entries.removeAll(keepingCapacity: true) }
            entries[id] = (exists, .now)
        }
    }

    func document(_ id: String) -> [UInt8]? { documents.withLock { $0[id] } }

    func putDocument(_ id: String, _ bytes: [UInt8]) {
        documents.withLock { documents in
            if documents.count > 10_000 { documents.removeAll(keepingCapacity: true) }
            documents[id] = bytes
        }
    }
}

/// Makes the default tenant at start (once migrations ran), so the root routes serve one.
struct DefaultTenant: Service {
    let tenants: TenantStore
    let id: String

    func run() async throws {
        var fields = Fields([:])
        let settings = Tenant.settings(from: &fields)
        // Cancelled (the service failed to start) as well as shut down: a loop that only
        // watched for shutdown spun at full CPU when its sleep threw at once.
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await tenants.create(Tenant(id: id, settings: settings))
                break
            } catch {
                tenants.logger.warning("default tenant not created yet", metadata: ["error": "\(String(reflecting: error))"])
                do { try await Task.sleep(for: .seconds(1)) } catch { return }
            }
        }
        try? await gracefulShutdown()
    }
}

/// Deletes what has expired: challenges, authorization requests and codes, revocations
/// past their token's life, spent refresh tokens past the grace, mail sent a week ago. Each statement on its
/// own: one failing does not keep the others from running.
enum VaultJanitor {
    static func service(database: PostgresClient, logger: Logger) -> Periodic {
        Periodic("purge", every: .seconds(300), logger: logger, waitFirst: true) {
            func attempt(_ step: () async throws -> Void) async {
                do {
                    try await step()
                } catch {
                    logger.warning("purge failed", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
            for statement: PostgresQuery in [
                "DELETE FROM challenges WHERE expires_at < now() - interval '1 hour'",
                "DELETE FROM auth_requests WHERE expires_at < now() - interval '1 hour'",
                "DELETE FROM authorization_codes WHERE expires_at < now() - interval '1 day'",
                "DELETE FROM revoked_tokens WHERE expires_at < now()",
                "DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'",
                "DELETE FROM password_resets WHERE expires_at < now() - interval '1 day'",
                "DELETE FROM sessions WHERE expires_at < now() - interval '1 day'",
                "DELETE FROM webauthn_challenges WHERE expires_at < now()",
            ] {
                await attempt { try await database.sql(statement, logger: logger) }
            }
            // Mail a week after it went (reset and verification links expire long before).
            await attempt { try await MailOutbox.purgeDelivered(olderThanSeconds: 7 * 86_400, database: database, logger: logger) }
        }
    }
}
