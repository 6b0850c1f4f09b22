import Foundation
public import PostgresNIO
public import ServiceLifecycle
import SuiteCore
public import SuiteHTTP
public import SuitePostgres
public import SuiteSigning

/// One service under test, running for real on loopback: a free port, its own schema of
/// the throwaway PostgreSQL (or the database given), its mail to a fresh SMTP sink, and
/// whatever else the test runs beside it (fake third parties, replicas). Each service's
/// harness builds its settings and helpers on this, so starting, waiting for readiness
/// and stopping are written once.
public struct ServiceFixture<S: SuiteService>: Sendable {
    /// `http://127.0.0.1:<port>`.
    public let base: String
    public let port: Int
    public let configuration: ServiceConfiguration
    public let settings: S.Settings
    /// The service's own database client (its schema).
    public let database: PostgresClient
    public let sink: SMTPSink
    /// Every route the service registered, and whether it is public.
    public let routes: [RouteEntry]
    /// Further replicas on the same database and settings, by base URL.
    public let replicas: [String]
    /// Requests to the service, over loopback or (in process) to its router.
    public let client: ServiceClient

    /// What `run` needs beyond the service's settings.
    public struct Options: Sendable {
        public var rateLimits = RateLimitSettings(enabled: false)
        public var trust = ServiceTrust(issuers: [:])
        public var peers: [String: String] = [:]
        public var signingKey = Ed25519SigningKey.generate()
        public var requestTimeout: Duration = .seconds(30)
        /// nil: a new schema named after the service.
        public var database: DatabaseConfiguration?
        /// Instances in all, on one database (2 or more for tests of shared state).
        public var replicas = 1
        /// nil: a free one. Given when peers started before it must know where it is.
        public var port: Int?
        /// nil: `http://127.0.0.1:<port>`. meet-rooms' is its prefix (the gateway keeps it).
        public var publicPath: String?

        public init() {}
    }

    /// How a test reaches the service: `inProcess` (straight to its router, no socket: the
    /// default for handler logic) or `live` (on loopback, for what needs the network:
    /// peers calling it, outages, replicas, clients outside the test process).
    public enum Mode: Sendable {
        case inProcess, live
    }

    /// Starts the service (and `alongside`, ready once each of `readyURLs` answers) with the
    /// settings `settings` makes from its port and the SMTP sink's, runs `body`, then stops
    /// everything gracefully, whether `body` succeeded or threw. `mode` says how the test
    /// reaches it; `alongside` (fake third parties) runs for real either way, and replicas
    /// are always live.
    public static func run(
        _ service: S.Type,
        mode: Mode = .live,
        options: Options = Options(),
        alongside: [any Service] = [],
        readyURLs: [String] = [],
        settings makeSettings: (_ port: Int, _ sink: SMTPSink) throws -> S.Settings,
        _ body: @Sendable (ServiceFixture<S>) async throws -> Void
    ) async throws {
        try await withSink { sink in
            let launch = Launch(options: options, sink: sink, alongside: alongside, readyURLs: readyURLs)
            if mode == .inProcess, options.replicas <= 1 {
                try await inProcess(launch, settings: makeSettings, body)
            } else {
                try await live(launch, settings: makeSettings, body)
            }
        }
    }

    /// What both ways of running share.
    struct Launch: Sendable {
        let options: Options
        let sink: SMTPSink
        let alongside: [any Service]
        let readyURLs: [String]
    }

    /// Runs `body` with a new SMTP sink, stopped afterwards whatever happened.
    static func withSink(_ body: (SMTPSink) async throws -> Void) async throws {
        let sink = try await SMTPSink.start()
        do {
            try await body(sink)
        } catch {
            await sink.stop()
            throw error
        }
        await sink.stop()
    }

    private static func live(
        _ launch: Launch, settings makeSettings: (_ port: Int, _ sink: SMTPSink) throws -> S.Settings,
        _ body: @Sendable (ServiceFixture<S>) async throws -> Void
    ) async throws {
        let (options, sink) = (launch.options, launch.sink)
        let port = try options.port ?? FreePort.next()
        let configure = try await configuration(options)
        let settings = try makeSettings(port, sink)
        let built = try await SuiteApplication.build(S.self, configuration: configure(port), settings: settings)
        var applications: [any Service] = [built.application]
        var replicas: [String] = []
        for _ in 1..<max(options.replicas, 1) {
            let port = try FreePort.next()
            applications.append(try await SuiteApplication.build(S.self, configuration: configure(port), settings: settings).application)
            replicas.append("http://127.0.0.1:\(port)")
        }
        let fixture = ServiceFixture(
            base: "http://127.0.0.1:\(port)", port: port, configuration: configure(port), settings: settings,
            database: built.dependencies.database, sink: sink, routes: built.routes, replicas: replicas,
            client: ServiceClient(base: "http://127.0.0.1:\(port)", router: nil))
        let ready = [fixture.base + "/health/ready"] + replicas.map { $0 + "/health/ready" }
        try await LiveServices.run(applications + launch.alongside, readyURLs: ready + launch.readyURLs) { try await body(fixture) }
    }

    /// The configuration of an instance on `port`: the options', and a database of its own
    /// (a new schema named after the service) unless the options name one.
    static func configuration(_ options: Options) async throws -> @Sendable (_ port: Int) -> ServiceConfiguration {
        let database: DatabaseConfiguration
        if let given = options.database {
            database = given
        } else {
            let suffix = SecureRandom.string(count: 8, alphabet: Array("abcdefghijklmnopqrstuvwxyz".utf8))
            database = try await TestPostgres.shared.makeDatabase(schema: S.defaultSchema + "_" + suffix)
        }
        return { port in
            var configuration = ServiceConfiguration.forTesting(
                service: S.name, port: port, database: database, signingKey: options.signingKey, trust: options.trust,
                peers: options.peers, requestTimeout: options.requestTimeout, rateLimits: options.rateLimits)
            if let path = options.publicPath { configuration.publicURL += path }
            return configuration
        }
    }
}
