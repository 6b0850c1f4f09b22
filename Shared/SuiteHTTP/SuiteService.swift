public import ArgumentParser
public import Hummingbird
public import Logging
public import PostgresNIO
public import SuiteCore
public import SuitePostgres
public import SuiteSigning
public import ServiceLifecycle

/// What makes one of the four services: its name and defaults, its migrations and
/// OpenAPI document, the dialect of its errors, and its routes. Everything else (health,
/// metrics, request ids, logs, errors, service tokens, lifecycle) is the suite's.
public protocol SuiteService: Sendable {
    associatedtype Context: SuiteRequestContext = SuiteContext
    /// The service's own settings (`UAI_*`, `MEET_*`, …), read and checked at start
    /// beside the common `ServiceConfiguration`.
    associatedtype Settings: Sendable = NoSettings

    /// The executable and service-token name: `meet-rooms`.
    static var name: String { get }
    static var defaultPort: Int { get }
    static var defaultSchema: String { get }
    /// The gateway prefix, for the default `PUBLIC_URL` (`/uai`).
    static var publicPath: String { get }
    static var migrations: [Migration] { get }
    /// The service's OpenAPI 3.1 document, served at `/openapi.yaml`.
    static var openAPIDocument: [UInt8] { get }

    /// Whether the service keeps rate-limit counters (its migrations then include
    /// `RateLimiter.tableSQL`), so old windows are purged while it runs.
    static var usesRateLimits: Bool { get }

    /// The service's outbox tables (`LeasedOutbox.tableSQL`), exported as
    /// `suite_outbox_*{outbox}` gauges at each scrape.
    static var outboxTables: [String] { get }

    /// The error dialect of the route at `path`.
    static func errorDialect(forPath path: String) -> ErrorDialect

    /// Reads the service's own settings; a wrong one is a `ConfigurationError` naming it.
    static func loadSettings(_ reader: ConfigReader) throws(ConfigurationError) -> Settings

    /// Adds the service's own routes.
    static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: Settings) async throws

    /// Long-running work of the service (outbox delivery, relays, purges), run in its
    /// `ServiceGroup` and stopped gracefully with it.
    static func backgroundServices(dependencies: SuiteDependencies, settings: Settings) -> [any Service]

    /// Admin subcommands of the executable (`user-identity users create-admin`).
    static var commands: [any ParsableCommand.Type] { get }
}

/// The settings of a service that needs none beyond the common ones.
public struct NoSettings: Sendable {
    public init() {}
}

/// What a service's routes may use, built once at start.
public struct SuiteDependencies: Sendable {
    public let configuration: ServiceConfiguration
    public let database: PostgresClient
    public let logger: Logger
    public let metrics: HTTPMetrics
    public let signer: ServiceTokenSigner
    public let verifier: ServiceTokenVerifier
    public let peers: InternalClient
    public let rateLimiter: RateLimiter
    /// Set from SIGTERM on (`ShutdownGrace`): readiness turns 503.
    public let shutdown: ShutdownState
    /// The routes registered as public (`access.open(router) { … }`); all others are closed.
    public let access: RouteAccess
}

extension SuiteService {
    public static var usesRateLimits: Bool { false }

    public static var outboxTables: [String] { [] }

    public static func backgroundServices(dependencies: SuiteDependencies, settings: Settings) -> [any Service] { [] }
}

extension SuiteService where Settings == NoSettings {
    public static func loadSettings(_ reader: ConfigReader) throws(ConfigurationError) -> NoSettings { NoSettings() }
}
