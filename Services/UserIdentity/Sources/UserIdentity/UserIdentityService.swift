public import ArgumentParser
public import Hummingbird
import Logging
import PostgresNIO
public import ServiceLifecycle
public import SuiteCore
public import SuiteHTTP
import SuiteMail
public import SuitePostgres

/// Accounts, credentials, roles, invitations and tokens.
public enum UserIdentityService: SuiteService {
    public typealias Context = UAIContext
    public typealias Settings = UserIdentitySettings

    public static let name = "user-identity"
    public static let defaultPort = 8083
    public static let defaultSchema = "uai"
    public static let publicPath = "/uai"
    public static let usesRateLimits = true

    /// The outbox tables whose commits wake their workers (`OutboxListener`); each has the
    /// trigger in the migrations.
    public static let outboxTables = ["mail_outbox"]

    public static var migrations: [Migration] {
        [
            Migration(fileName: "0001_init.sql", bytes: PackageResources._001_init_sql),
            Migration(fileName: "0002_accounts.sql", bytes: PackageResources._002_accounts_sql),
            // The suite's shared tables, from the code that uses them.
            Migration(fileName: "0003_outbox_and_limits.sql", bytes: PackageResources._003_outbox_and_limits_sql),
            Migration(fileName: "0004_outbox_notify.sql", bytes: PackageResources._004_outbox_notify_sql),
            Migration(fileName: "0005_profiles.sql", bytes: PackageResources._005_profiles_sql),
            Migration(fileName: "0006_documents.sql", bytes: PackageResources._006_documents_sql),
            Migration(fileName: "0007_phone_verifications.sql", bytes: PackageResources._007_phone_verifications_sql),
            Migration(fileName: "0008_social_logins.sql", bytes: PackageResources._008_social_logins_sql),
            Migration(fileName: "0009_vault_relay.sql", bytes: PackageResources._009_vault_relay_sql),
        ]
    }

    public static var openAPIDocument: [UInt8] { PackageResources.openapi_yaml }

    /// The seed writes the RFC 2616 URI in every problem `type`.
    public static func errorDialect(forPath path: String) -> ErrorDialect {
        .problem(type: "http://www.w3.org/Protocols/rfc2616/rfc2616")
    }

    public static func loadSettings(_ reader: ConfigReader) throws(ConfigurationError) -> UserIdentitySettings {
        try UserIdentitySettings.load(reader)
    }

    static func core(_ dependencies: SuiteDependencies, _ settings: UserIdentitySettings) -> Core {
        var settings = settings
        // Unset means the suite's own host, not any host: a reset link mailed to a user
        // must not point wherever the requester likes.
        if settings.callbackHosts.isEmpty {
            settings.callbackHosts = CallbackURL.defaultHosts(publicURL: dependencies.configuration.publicURL)
        }
        return Core(
            database: dependencies.database, logger: dependencies.logger, settings: settings,
            tokens: UserTokens(settings: settings.tokens), passwords: PasswordHasher(cost: settings.bcryptCost),
            mailer: UserMailer(templates: settings.templates, from: settings.mail.from, logger: dependencies.logger),
            users: UserStore(database: dependencies.database, logger: dependencies.logger),
            rateLimiter: dependencies.rateLimiter, serviceTokens: dependencies.verifier,
            storage: settings.documents.storage.map { ObjectStorage(settings: $0, http: dependencies.peers.http) },
            http: dependencies.peers.http, peerURLs: dependencies.peers.peers,
            publicURL: dependencies.configuration.publicURL, metrics: dependencies.metrics)
    }

    public static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: Settings) async throws {
        let core = core(dependencies, settings)
        let tokens = TokenRoutes(core: core)
        let users = UserRoutes(core: core)
        let access = dependencies.access
        tokens.add(to: router, access: access)
        users.add(to: router, access: access)
        SignupRoutes(core: core).add(to: router, access: access)
        InvitationRoutes(core: core).add(to: router, access: access)
        ProfileRoutes(core: core).add(to: router)
        DocumentRoutes(core: core).add(to: router, access: access)
        PhoneVerificationRoutes(core: core).add(to: router)
        SocialRoutes(core: core).add(to: router, access: access)
        ForgottenPasswordRoutes(core: core).add(to: router, access: access)
        EventRoutes(core: core).add(to: router)
        InternalRoutes(core: core).add(to: router)
        dependencies.logger.info("mail", metadata: ["transport": "\(settings.mail.summary)"])
        dependencies.logger.info(
            "documents", metadata: ["storage": "\(settings.documents.storage?.summary ?? "not configured (UAI_S3_ENDPOINT)")"])
        dependencies.logger.info("phone verification", metadata: ["provider": "\(settings.phones.summary)"])
        dependencies.logger.info("social sign-in", metadata: ["providers": "\(settings.social.summary)"])
    }

    public static func backgroundServices(dependencies: SuiteDependencies, settings: Settings) -> [any Service] {
        // The domain events wake the relay to the vault the same way (their trigger is in
        // 0009_vault_relay.sql).
        let outboxes = OutboxListener(
            database: dependencies.database, schema: dependencies.configuration.database.schema, tables: Self.outboxTables + ["domain_events"],
            logger: dependencies.logger)
        var relay: [any Service] = []
        if let tenant = settings.vaultProvisionTenant {
            relay.append(VaultRelay(
                database: dependencies.database, tenant: tenant, peers: dependencies.peers, doorbell: outboxes.doorbell("domain_events"),
                registry: dependencies.metrics.registry, logger: dependencies.logger))
        }
        return relay + [
            outboxes,
            OutboxWorker(
                database: dependencies.database, transport: settings.mail.makeTransport(), logger: dependencies.logger,
                doorbell: outboxes.doorbell("mail_outbox"), observer: dependencies.metrics),
            AccountJanitor.service(database: dependencies.database, logger: dependencies.logger),
        ]
    }

    public static var commands: [any ParsableCommand.Type] { [UsersCommand.self, PasswordsCommand.self] }
}

/// Deletes what can no longer be used: expired or spent secrets and refresh tokens,
/// and delivered mail older than a month.
enum AccountJanitor {
    static func service(database: PostgresClient, logger: Logger) -> Periodic {
        Periodic("account purge", every: .seconds(600), logger: logger) {
            try await database.withRequestTransaction(logger: logger) { connection in
                try await connection.sql("DELETE FROM activations WHERE expires_at < now()", logger: logger)
                try await connection.sql("DELETE FROM password_resets WHERE expires_at < now() - interval '1 day'", logger: logger)
                try await connection.sql("DELETE FROM email_changes WHERE expires_at < now() - interval '1 day'", logger: logger)
                try await connection.sql("DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'", logger: logger)
                try await connection.sql("DELETE FROM phone_verifications WHERE expires_at < now() - interval '1 day'", logger: logger)
                try await connection.sql("DELETE FROM oauth_states WHERE expires_at < now()", logger: logger)
            }
            // An invitation's mail stays while the invitation does: its status is read from it.
            try await MailOutbox.purgeDelivered(
                olderThanSeconds: 30 * 86_400, keeping: "SELECT mail_id FROM invitations WHERE mail_id IS NOT NULL", database: database,
                logger: logger)
        }
    }
}
