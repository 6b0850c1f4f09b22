public import Hummingbird
import Logging
public import ServiceLifecycle
public import SuiteCore
public import SuiteHTTP
import SuiteMail
public import SuitePostgres

/// Proof that someone owns an email or phone number, and its binding to a Matrix ID.
public enum IdentityAssociationsService: SuiteService {
    public typealias Context = SuiteContext
    public typealias Settings = IdentitySettings

    public static let name = "identity-associations"
    public static let defaultPort = 8082
    public static let defaultSchema = "identity"
    public static let publicPath = "/_matrix/identity"

    /// The outbox tables whose commits wake their workers (`OutboxListener`); each has the
    /// trigger in the migrations.
    public static let outboxTables = ["mail_outbox", "sms_outbox", "onbind_outbox"]

    public static var migrations: [Migration] {
        [
            Migration(fileName: "0001_init.sql", bytes: PackageResources._001_init_sql),
            Migration(fileName: "0002_room_invites.sql", bytes: PackageResources._002_room_invites_sql),
            Migration(fileName: "0003_outbox.sql", bytes: PackageResources._003_outbox_sql),
            Migration(fileName: "0004_identity.sql", bytes: PackageResources._004_identity_sql),
            Migration(fileName: "0005_sms_and_rate_limits.sql", bytes: PackageResources._005_sms_and_rate_limits_sql),
            Migration(fileName: "0006_association_log.sql", bytes: PackageResources._006_association_log_sql),
            Migration(fileName: "0007_onbind.sql", bytes: PackageResources._007_onbind_sql),
            Migration(fileName: "0008_outbox_notify.sql", bytes: PackageResources._008_outbox_notify_sql),
        ]
    }

    public static var usesRateLimits: Bool { true }

    public static var openAPIDocument: [UInt8] { PackageResources.openapi_yaml }

    /// Everything under `/_matrix/` speaks Matrix errors, unknown paths included.
    public static func errorDialect(forPath path: String) -> ErrorDialect {
        path.hasPrefix("/_matrix/") ? .matrix : .problem()
    }

    public static func loadSettings(_ reader: ConfigReader) throws(ConfigurationError) -> IdentitySettings {
        try IdentitySettings.load(reader)
    }

    public static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: Settings) async throws {
        RoomInvites(store: InviteStore(database: dependencies.database), settings: settings, logger: dependencies.logger)
            .add(to: router, verifier: dependencies.verifier)
        let database = dependencies.database
        let base = publicBaseURL(settings: settings, configuration: dependencies.configuration)
        let sessions = ValidationSessions(database: database, settings: settings, publicBaseURL: base, rateLimiter: dependencies.rateLimiter)
        // One resolver (and its memory of delegations and keys' homes) for registration and
        // signed unbinds alike.
        let homeservers = HomeserverResolver(settings: settings, http: dependencies.peers.http)
        let index = settings.lookupIndex ? AssociationIndex(database: database) : nil
        if let index { Self.exportIndexMetrics(index, metrics: dependencies.metrics, logger: dependencies.logger) }
        IdentityRoutes(
            settings: settings, sessions: sessions,
            associations: Associations(
                store: AssociationStore(database: database), settings: settings, sessions: sessions,
                batcher: LookupBatcher(database: database), index: index,
                serverRequests: ServerRequestVerifier(resolver: homeservers, serverName: settings.serverName)),
            invites: ThirdPartyInvites(
                store: InviteStore(database: database), settings: settings, publicBaseURL: base, rateLimiter: dependencies.rateLimiter),
            accounts: Accounts(database: database, settings: settings, rateLimiter: dependencies.rateLimiter, resolver: homeservers)
        ).add(to: router, access: dependencies.access)
        dependencies.logger.info(
            "identity server",
            metadata: [
                "server_name": "\(settings.serverName)", "public_base_url": "\(base)", "v1": "\(settings.enableV1)", "v2": "\(settings.enableV2)",
                "brands": "\(settings.brands.names)", "default_brand": "\(settings.brands.defaultBrand)",
                "lookup_index": "\(settings.lookupIndex ? "memory" : "database")", "terms_documents": "\(settings.terms.documents.count)", "mail": "\(settings.mail.summary)", "sms": "\(settings.sms.summary)",
                "public_key": "\(settings.publicKeyBase64)",
            ])
    }

    public static func backgroundServices(dependencies: SuiteDependencies, settings: Settings) -> [any Service] {
        let sessions = ValidationSessions(
            database: dependencies.database, settings: settings, publicBaseURL: "", rateLimiter: dependencies.rateLimiter)
        let database = dependencies.database, logger = dependencies.logger
        let sms = SMSWorker(database: database, settings: settings.sms, http: dependencies.peers.http, logger: logger, observer: dependencies.metrics)
        let onBind = OnBindWorker(
            database: database, resolver: HomeserverResolver(settings: settings, http: dependencies.peers.http), logger: logger,
            observer: dependencies.metrics)
        // Each outbox's worker wakes when its rows commit (on any replica), polls otherwise.
        let outboxes = OutboxListener(
            database: database, schema: dependencies.configuration.database.schema, tables: Self.outboxTables,
            logger: logger)
        return [
            outboxes,
            OutboxWorker(
                database: database, transport: settings.mail.makeTransport(), logger: logger, doorbell: outboxes.doorbell("mail_outbox"),
                observer: dependencies.metrics),
            // A full batch means more is waiting: the next pass comes at once.
            Periodic.draining("sms outbox pass", every: .milliseconds(500), doorbell: outboxes.doorbell("sms_outbox"), logger: logger) {
                try await sms.deliverDue() >= LeasedOutbox.defaultBatchSize
            },
            Periodic.draining("onbind outbox pass", every: .milliseconds(500), doorbell: outboxes.doorbell("onbind_outbox"), logger: logger) {
                try await onBind.deliverDue() >= LeasedOutbox.defaultBatchSize
            },
            // Expired validation sessions, and association log rows older than an hour
            // (replicas read the log within a request of each change).
            // Sent mail and text messages a day on (they carry validation tokens), bind
            // notifications a week on.
            Periodic("purge", every: .seconds(600), logger: logger) {
                try await sessions.purge(logger: logger)
                try await AssociationIndex.prune(database: database, retentionSeconds: 3600, logger: logger)
                try await MailOutbox.purgeDelivered(olderThanSeconds: 86_400, database: database, logger: logger)
                try await LeasedOutbox.purgeDelivered("sms_outbox", olderThanSeconds: 86_400, database: database, logger: logger)
                try await LeasedOutbox.purgeDelivered("onbind_outbox", olderThanSeconds: 7 * 86_400, database: database, logger: logger)
            },
        ]
    }

    /// Where mailed links point: `IS_PUBLIC_BASE_URL`, else the service's public URL
    /// without the gateway prefix (the gateway keeps `/_matrix/identity` in the path).
    static func publicBaseURL(settings: IdentitySettings, configuration: ServiceConfiguration) -> String {
        if let base = settings.publicBaseURL { return base }
        var url = configuration.publicURL
        if url.hasSuffix("/") { url.removeLast() }
        if url.hasSuffix(publicPath) { url.removeLast(publicPath.count) }
        return url
    }
}

extension IdentityAssociationsService {
    /// `is_lookup_index_entries`, `_memory_bytes`, and `_generation_lag`: how many
    /// association changes the in-memory copy is behind PostgreSQL at the scrape (it
    /// catches up before each lookup answers, so a lag only says lookups have been few).
    static func exportIndexMetrics(_ index: AssociationIndex, metrics: HTTPMetrics, logger: Logger) {
        metrics.addCollector {
            guard let statistics = index.statistics() else { return }
            metrics.set("is_lookup_index_entries", help: "Associations in the lookup index", to: Double(statistics.entries))
            metrics.set("is_lookup_index_memory_bytes", help: "Memory the lookup index holds", to: Double(statistics.memoryBytes))
            if let current = try? await withTimeout(seconds: 1, { try await index.databaseGeneration(logger: logger) }) {
                metrics.set(
                    "is_lookup_index_generation_lag", help: "Association changes the lookup index has not applied yet",
                    to: Double(max(0, current - statistics.generation)))
            }
        }
    }
}
