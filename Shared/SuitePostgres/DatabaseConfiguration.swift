import Foundation
public import Logging
public import PostgresNIO
public import SuiteCore

/// Where a service's data lives: a PostgreSQL URL, the service's schema, a pool size.
public struct DatabaseConfiguration: Sendable {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var unixSocketPath: String?
    public var username: String
    public var password: String?
    public var database: String
    public var schema: String
    public var poolSize: Int
    public var tls: TLSMode

    public init(
        host: String = "127.0.0.1", port: Int = 5432, unixSocketPath: String? = nil, username: String,
        password: String? = nil, database: String, schema: String, poolSize: Int = 8, tls: TLSMode = .disable
    ) {
        self.host = host
        self.port = port
        self.unixSocketPath = unixSocketPath
        self.username = username
        self.password = password
        self.database = database
        self.schema = schema
        self.poolSize = poolSize
        self.tls = tls
    }

    /// Reads `postgres://user:password@host:port/database?sslmode=…` (also `?host=/dir`
    /// for a Unix socket directory, as libpq does).
    public init(url text: String, schema: String, poolSize: Int, variable: String = "DATABASE_URL") throws(ConfigurationError) {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let user = components.user, !user.isEmpty
        else {
            throw ConfigurationError(variable, "must look like postgres://user:password@host:5432/database")
        }
        let database = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard !database.isEmpty else { throw ConfigurationError(variable, "names no database") }
        guard Self.isIdentifier(schema) else {
            throw ConfigurationError("DATABASE_SCHEMA", "must be a lowercase SQL identifier (got \"\(schema)\")")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        var tls = TLSMode.disable
        if let mode = query["sslmode"] {
            switch mode {
            case "disable", "allow": tls = .disable
            case "prefer": tls = .prefer
            case "require", "verify-ca", "verify-full": tls = .require
            default: throw ConfigurationError(variable, "has an unknown sslmode \"\(mode)\"")
            }
        }
        var socket: String?
        if let hostParameter = query["host"], hostParameter.hasPrefix("/") {
            socket = hostParameter.hasSuffix(".s.PGSQL.\(components.port ?? 5432)")
                ? hostParameter : "\(hostParameter)/.s.PGSQL.\(components.port ?? 5432)"
        }
        self.init(
            host: components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1", port: components.port ?? 5432,
            unixSocketPath: socket, username: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: database, schema: schema, poolSize: poolSize, tls: tls)
    }

    /// The URL with the password masked, for the start-up line.
    public var redactedDescription: String {
        let target = unixSocketPath.map { "socket \($0)" } ?? "\(host):\(port)"
        return "postgres://\(username)\(password == nil ? "" : ":***")@\(target)/\(database) schema=\(schema) pool=\(poolSize)"
    }

    public static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) || first == UInt8(ascii: "_")
        else { return false }
        return name.utf8.count <= 63 && name.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "_")
        }
    }

    /// A pooled client whose every connection starts with `search_path` set to the
    /// schema, so queries name tables without a prefix and never reach another schema.
    /// Its connections carry `applicationName`, when given, as PostgreSQL's
    /// `application_name` (see `instanceName`). Run it once, as a service of the
    /// application's `ServiceGroup`.
    public func makeClient(logger: Logger, applicationName: String? = nil) -> PostgresClient {
        var configuration: PostgresClient.Configuration
        if let unixSocketPath {
            configuration = .init(unixSocketPath: unixSocketPath, username: username, password: password, database: database)
        } else {
            let tlsSetting: PostgresClient.Configuration.TLS
            switch tls {
            case .disable: tlsSetting = .disable
            case .prefer: tlsSetting = .prefer(.makeClientConfiguration())
            case .require: tlsSetting = .require(.makeClientConfiguration())
            }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tlsSetting)
        }
        // Our statements are short, indexed and prepared once per connection; planning
        // them again for each set of values cost more than running them (0.7 ms against
        // 0.4 ms for a page of rooms), so the plan made once is kept.
        configuration.options.additionalStartupParameters = [("search_path", schema), ("plan_cache_mode", "force_generic_plan")]
        if let applicationName { configuration.options.additionalStartupParameters.append(("application_name", applicationName)) }
        configuration.options.maximumConnections = poolSize
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(3)
        return PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// A name for one process' connections, unique among the replicas sharing the
    /// database: the service, the host (the pod's name in Kubernetes) and a random
    /// suffix, within PostgreSQL's 63 bytes. Operators see it in `pg_stat_activity`;
    /// the pool metrics count this process' connections by it.
    public static func instanceName(service: String, host hostname: String = hostName()) -> String {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        // Printable ASCII only: PostgreSQL shows anything else as '?'.
        let host = String(String.UnicodeScalarView(hostname.unicodeScalars.filter { $0.value >= 0x21 && $0.value < 0x7F }))
            .prefix(max(0, 63 - service.utf8.count - suffix.utf8.count - 2))
        return host.isEmpty ? "\(service) \(suffix)" : "\(service) \(host) \(suffix)"
    }

    /// This machine's name (the pod's in Kubernetes), "" when it cannot be read.
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
