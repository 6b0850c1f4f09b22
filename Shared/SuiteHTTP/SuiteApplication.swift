public import AsyncHTTPClient
import Foundation
public import Hummingbird
import Synchronization
public import Logging
import NIOCore
public import PostgresNIO
import ServiceLifecycle
import SuiteCore
import SuitePostgres
import SuiteSigning

/// A service built and ready to run, with what tests need to reach inside it.
public struct BuiltService<S: SuiteService>: Sendable {
    public let application: Application<DeadlineResponder<RouterResponder<S.Context>>>
    public let dependencies: SuiteDependencies
    /// Every route the service serves, and whether it was registered as public.
    public let routes: [RouteEntry]

    /// What runs the service: the application, and before it (it stops first) the grace
    /// that keeps it accepting, not ready, after SIGTERM.
    public var services: [any Service] {
        [
            application,
            ShutdownGrace(state: dependencies.shutdown, grace: dependencies.configuration.shutdownGrace, logger: dependencies.logger),
        ]
    }

    /// Runs the service until SIGTERM or SIGINT, then shuts it down gracefully: not ready
    /// at once, accepting for the grace, then draining in-flight requests. `first` (the
    /// span exporter) starts before and stops after everything else, so the last
    /// requests' spans still leave.
    public func run(first: [any Service] = []) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: (first + services).map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: dependencies.logger))
        try await group.run()
    }
}

public enum SuiteApplication {
    /// Builds a service: its database client, signer and verifier, peer client,
    /// standard and own routes, migrations before the server starts, and the services
    /// its `ServiceGroup` runs and stops in order on SIGTERM.
    public static func build<S: SuiteService>(
        _ service: S.Type,
        configuration: ServiceConfiguration,
        settings: S.Settings,
        logger baseLogger: Logger? = nil,
        httpClient: HTTPClient? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> BuiltService<S> {
        var configuredLogger = baseLogger ?? Logger(label: S.name)
        configuredLogger.logLevel = configuration.logLevel
        let logger = configuredLogger

        let applicationName = DatabaseConfiguration.instanceName(service: S.name)
        let database = configuration.database.makeClient(logger: logger, applicationName: applicationName)
        let ownsHTTPClient = httpClient == nil
        let http = httpClient ?? InternalClient.makeHTTPClient()
        let signer = await ServiceTokenSigner(issuer: S.name, signingKey: configuration.signingKey)
        let peers = InternalClient(http: http, signer: signer, peers: configuration.peers, timeout: configuration.internalTimeout)
        let verifier = ServiceTokenVerifier(audience: S.name, trust: configuration.trust) { url in
            try await peers.fetchJWKS(url: url)
        }
        let metrics = HTTPMetrics()
        metrics.recordBuildInfo(service: S.name)
        RuntimeMetrics.process(metrics)
        RuntimeMetrics.database(
            outboxes: S.outboxTables, applicationName: applicationName, poolSize: configuration.database.poolSize, metrics: metrics,
            database: database, logger: logger)
        let rateLimiter = RateLimiter(database: database, settings: configuration.rateLimits, logger: logger, metrics: metrics)
        let dependencies = SuiteDependencies(
            configuration: configuration, database: database, logger: logger, metrics: metrics, signer: signer,
            verifier: verifier, peers: peers, rateLimiter: rateLimiter, shutdown: ShutdownState(), access: RouteAccess())

        let router = Router(context: S.Context.self)
        let allowedMethods = AllowedMethods()
        // Middleware first: Hummingbird attaches it to the routes registered after it.
        // A span per request when tracing is on, continuing the caller's trace; outermost,
        // so the access log and the error mapping happen inside it (their lines carry its ids).
        if SuiteTracing.enabled { router.add(middleware: RequestSpanMiddleware<S.Context>()) }
        router.add(
            middleware: RequestMiddleware<S.Context>(
                metrics: metrics, bodyLimit: configuration.bodyLimit, allowedMethods: allowedMethods,
                dialect: { S.errorDialect(forPath: $0) }))
        StandardRoutes.add(
            to: router, dependencies: dependencies,
            openAPIDocument: StandardRoutes.served(S.openAPIDocument, publicURL: configuration.publicURL, publicPath: S.publicPath))
        try await S.addRoutes(to: router, dependencies: dependencies, settings: settings)
        allowedMethods.load(from: router)
        let routes = router.routes.map {
            RouteEntry(method: $0.method.rawValue, path: "\($0.path)", isPublic: dependencies.access.isPublic($0.description))
        }

        var services: [any Service] = [database]
        if ownsHTTPClient { services.append(HTTPClientService(client: http)) }
        if S.usesRateLimits {
            services.append(Periodic("rate-limit purge", every: .seconds(300), logger: logger, waitFirst: true) { _ = try await rateLimiter.purge() })
        }
        // Background work touches the service's tables: it starts once they exist.
        let schemaReady = SchemaGate(open: false)
        services += S.backgroundServices(dependencies: dependencies, settings: settings).map {
            AfterMigration(service: $0, gate: schemaReady)
        }
        var application = Application(
            responder: DeadlineResponder(
                router.buildResponder(), timeout: configuration.requestTimeout, dialect: { S.errorDialect(forPath: $0) }),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        if configuration.migrateOnStart {
            application.beforeServerStarts {
                try await migrate(S.self, database: database, schema: configuration.database.schema, logger: logger)
                schemaReady.open()
            }
        } else {
            // Migrated by a job with the owner role: this process only checks that the
            // schema is the one it was built for, and refuses to start otherwise.
            application.beforeServerStarts {
                try await verifySchema(S.self, database: database, schema: configuration.database.schema, logger: logger)
                schemaReady.open()
            }
        }
        logger.info("configuration", metadata: configuration.summary)
        return BuiltService(application: application, dependencies: dependencies, routes: routes)
    }

    /// Builds a service that has no settings of its own.
    public static func build<S: SuiteService>(
        _ service: S.Type,
        configuration: ServiceConfiguration,
        logger: Logger? = nil,
        httpClient: HTTPClient? = nil
    ) async throws -> BuiltService<S> where S.Settings == NoSettings {
        try await build(S.self, configuration: configuration, settings: NoSettings(), logger: logger, httpClient: httpClient)
    }

    /// Checks that the schema holds exactly the migrations this binary knows (for
    /// `MIGRATE_ON_START=false`), waiting for the database as `migrate` does.
    public static func verifySchema<S: SuiteService>(
        _ service: S.Type, database: PostgresClient, schema: String, logger: Logger, waitSeconds: Int = 30
    ) async throws {
        let migrator = Migrator(client: database, schema: schema, logger: logger)
        do {
            try await whenReachable(waitSeconds: waitSeconds, logger: logger) { try await migrator.verify(S.migrations) }
            logger.info("schema verified (MIGRATE_ON_START=false)", metadata: ["schema": "\(schema)"])
        } catch let error as MigrationError {
            logger.critical("schema not ready", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Applies the service's migrations, waiting up to `waitSeconds` for the database to
    /// accept connections (containers often start before PostgreSQL does).
    public static func migrate<S: SuiteService>(
        _ service: S.Type, database: PostgresClient, schema: String, logger: Logger, waitSeconds: Int = 30
    ) async throws {
        let migrator = Migrator(client: database, schema: schema, logger: logger)
        let applied = try await whenReachable(waitSeconds: waitSeconds, logger: logger) { try await migrator.migrate(S.migrations) }
        logger.info("schema ready", metadata: ["schema": "\(schema)", "applied": "\(applied)"])
    }

    /// Runs `body`, again every second while PostgreSQL cannot be reached, for up to
    /// `waitSeconds`.
    private static func whenReachable<T>(waitSeconds: Int, logger: Logger, _ body: () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let giveUp = clock.now + .seconds(waitSeconds)
        while true {
            do {
                return try await body()
            } catch let error as PSQLError where error.serverInfo == nil && clock.now < giveUp {
                logger.warning("database not reachable yet; retrying", metadata: ["error": "\(error.code)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}

/// Opens once the schema is migrated.
final class SchemaGate: Sendable {
    private let state: Mutex<Bool>

    init(open: Bool) {
        state = Mutex(open)
    }

    func open() { state.withLock { $0 = true } }

    var isOpen: Bool { state.withLock { $0 } }
}

/// Runs a background service once the schema is ready (or not at all when the service
/// stops first), so a worker never polls tables that do not exist yet.
struct AfterMigration: Service {
    let service: any Service
    let gate: SchemaGate

    func run() async throws {
        while !gate.isOpen {
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        try await service.run()
    }
}
