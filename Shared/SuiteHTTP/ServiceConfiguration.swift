import Foundation
public import Logging
public import SuiteCore
public import SuitePostgres
public import SuiteSigning

/// The names and default ports of the four services, as peers know each other.
public enum SuitePeer: String, Sendable, CaseIterable {
    case meetRooms = "meet-rooms"
    case identityAssociations = "identity-associations"
    case userIdentity = "user-identity"
    case oidcVault = "oidc-vault"

    public var defaultPort: Int {
        switch self {
        case .meetRooms: 8081
        case .identityAssociations: 8082
        case .userIdentity: 8083
        case .oidcVault: 8084
        }
    }

    /// The variable that holds the peer's internal base URL.
    public var urlVariable: String {
        rawValue.uppercased().replacingOccurrences(of: "-", with: "_") + "_URL"
    }
}

/// The settings every service reads (ARCHITECTURE.md, "Configuration"): where to
/// listen, how it is reached from outside, its database, its logs, its signing key,
/// whom it trusts and where its peers are. Read once at start, validated, passed down.
public struct ServiceConfiguration: Sendable {
    public var serviceName: String
    public var host: String
    public var port: Int
    public var publicURL: String
    public var database: DatabaseConfiguration
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    public var signingKey: Ed25519SigningKey
    public var trust: ServiceTrust
    public var peers: [String: String]
    public var bodyLimit: Int
    public var internalTimeout: Duration
    /// How long a request may take before what it waits for is given up (503).
    public var requestTimeout: Duration
    /// After SIGTERM: how long the service keeps accepting while `/health/ready` says 503,
    /// so a load balancer stops sending before the listener closes.
    public var shutdownGrace: Duration
    /// Migrate at start (`serve`); `false` leaves it to `migrate`.
    public var migrateOnStart: Bool
    public var rateLimits: RateLimitSettings

    public init(
        serviceName: String, host: String = "127.0.0.1", port: Int, publicURL: String,
        database: DatabaseConfiguration, logLevel: Logger.Level = .info, logFormat: LogFormat = .json,
        signingKey: Ed25519SigningKey, trust: ServiceTrust, peers: [String: String] = [:],
        bodyLimit: Int = 1 << 20, internalTimeout: Duration = .seconds(2), requestTimeout: Duration = .seconds(5),
        shutdownGrace: Duration = .zero, migrateOnStart: Bool = true, rateLimits: RateLimitSettings = RateLimitSettings()
    ) {
        self.serviceName = serviceName
        self.host = host
        self.port = port
        self.publicURL = publicURL
        self.database = database
        self.logLevel = logLevel
        self.logFormat = logFormat
        self.signingKey = signingKey
        self.trust = trust
        self.peers = peers
        self.bodyLimit = bodyLimit
        self.internalTimeout = internalTimeout
        self.requestTimeout = requestTimeout
        self.shutdownGrace = shutdownGrace
        self.migrateOnStart = migrateOnStart
        self.rateLimits = rateLimits
    }

    /// Reads the common settings from the environment, with the service's defaults.
    public static func load(
        _ reader: ConfigReader, service: String, defaultPort: Int, defaultSchema: String, publicPath: String
    ) throws(ConfigurationError) -> ServiceConfiguration {
        let schema = try reader.string("DATABASE_SCHEMA", default: defaultSchema)
        let poolSize = try reader.int("DATABASE_POOL_SIZE", default: 8, range: 1...200)
        let databaseURL = try reader.string("DATABASE_URL", default: "postgres://\(defaultSchema)@127.0.0.1:5432/suite")
        var peers: [String: String] = [:]
        for peer in SuitePeer.allCases where peer.rawValue != service {
            peers[peer.rawValue] = try reader.url(peer.urlVariable, default: "http://127.0.0.1:\(peer.defaultPort)")
        }
        return ServiceConfiguration(
            serviceName: service,
            host: try reader.string("HOST", default: "127.0.0.1"),
            port: try reader.int("PORT", default: defaultPort, range: 0...65535),
            publicURL: try reader.url("PUBLIC_URL", default: "http://localhost:8080\(publicPath)")!,
            database: try DatabaseConfiguration(url: databaseURL, schema: schema, poolSize: poolSize),
            logLevel: try Logger.Level(configured: reader.string("LOG_LEVEL", default: "info")),
            logFormat: try reader.choice("LOG_FORMAT", default: LogFormat.json),
            signingKey: try Ed25519SigningKey.parse(reader.required("SERVICE_SIGNING_KEY"), variable: "SERVICE_SIGNING_KEY"),
            trust: try ServiceTrust.parse(reader.string("TRUSTED_SERVICES", default: "")),
            peers: peers,
            bodyLimit: try reader.int("MAX_BODY_BYTES", default: 1 << 20, range: 1024...(256 << 20)),
            internalTimeout: .milliseconds(try reader.int("INTERNAL_TIMEOUT_MS", default: 2000, range: 50...60000)),
            requestTimeout: .milliseconds(try reader.int("REQUEST_TIMEOUT_MS", default: 5000, range: 100...300_000)),
            shutdownGrace: .seconds(try reader.int("SHUTDOWN_GRACE_SECONDS", default: 5, range: 0...300)),
            migrateOnStart: try reader.bool("MIGRATE_ON_START", default: true),
            rateLimits: try RateLimitSettings.parse(reader.string("RATE_LIMITS"))
        )
    }

    /// What the service prints at start: every setting, secrets masked.
    public var summary: Logger.Metadata {
        [
            "listen": "\(host):\(port)",
            "public_url": "\(publicURL)",
            "database": "\(database.redactedDescription)",
            "log": "\(logLevel.rawValue)/\(logFormat.rawValue)",
            "signing_key": "ed25519 kid=\(signingKey.kid) (secret not shown)",
            "trusted_services": "\(trust.issuers.keys.sorted().joined(separator: ","))",
            "peers": .dictionary(peers.mapValues { .string($0) }),
            "body_limit": "\(bodyLimit)",
            "internal_timeout": "\(internalTimeout)",
            "request_timeout": "\(requestTimeout)",
            "shutdown_grace": "\(shutdownGrace)",
            "migrate_on_start": "\(migrateOnStart)",
            "rate_limits": "\(rateLimits.enabled ? "on" : "off")\(rateLimits.overrides.keys.sorted().map { " " + $0 }.joined())",
        ]
    }
}
