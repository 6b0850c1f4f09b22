public import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SuiteCore
import SuitePostgres
import SuiteSigning
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The command line of a service executable: `serve` (default), `migrate`,
/// `keys generate|public`, `token`, and the service's own admin commands.
public struct SuiteCommand<S: SuiteService>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: S.name,
            abstract: "The \(S.name) service of the suite.",
            version: SuiteVersion.current,
            // A service with a `keys` command of its own (the vault rotates its OIDC keys)
            // includes `KeysCommand<S>.Generate` and `.Public` in it.
            subcommands: [ServeCommand<S>.self, MigrateCommand<S>.self, CheckCommand<S>.self]
                + (S.commands.contains { $0.configuration.commandName == "keys" } ? [] : [KeysCommand<S>.self])
                + [TokenCommand<S>.self] + S.commands,
            defaultSubcommand: ServeCommand<S>.self)
    }

    public init() {}

    /// The executable's entry point. ArgumentParser's own async `main()` cannot be used
    /// for a generic root command, so this parses and runs the chosen subcommand itself.
    public static func runMain() async -> Never {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            Glibc.exit(0)
        } catch {
            exit(withError: error)
        }
    }
}

extension SuiteService {
    /// Admin subcommands of the service (`meet-rooms applications …`).
    public static var commands: [any ParsableCommand.Type] { [] }

    /// Reads the common configuration and the service's settings, or prints the one line
    /// that names what is wrong and exits 2.
    public static func loadConfigurationOrExit(_ reader: ConfigReader = ConfigReader()) -> (ServiceConfiguration, Settings) {
        do {
            let configuration = try ServiceConfiguration.load(
                reader, service: name, defaultPort: defaultPort, defaultSchema: defaultSchema, publicPath: publicPath)
            return (configuration, try loadSettings(reader))
        } catch {
            FileHandle.standardError.write(Data("\(name): configuration error: \(error)\n".utf8))
            exit(2)
        }
    }

    /// What `serve` and `migrate` do first: read the configuration (or stop with the line
    /// that names what is wrong) and send logs where it says.
    static func startUp() -> (ServiceConfiguration, Settings) {
        let loaded = loadConfigurationOrExit()
        bootstrapLogging(loaded.0)
        return loaded
    }

    static func bootstrapLogging(_ configuration: ServiceConfiguration) {
        let level = configuration.logLevel
        switch configuration.logFormat {
        case .json:
            let traced = SuiteTracing.logMetadataProvider
            LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level, metadataProvider: traced) }
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardOutput(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

public struct ServeCommand<S: SuiteService>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "serve", abstract: "Migrate the schema, then serve HTTP until SIGTERM or SIGINT.",
            discussion: """
                Configured by the environment (NAME_FILE reads NAME from a file). Common to every service: \
                HOST, PORT, PUBLIC_URL, DATABASE_URL, DATABASE_SCHEMA, DATABASE_POOL_SIZE, MIGRATE_ON_START, \
                SERVICE_SIGNING_KEY, TRUSTED_SERVICES, MEET_ROOMS_URL, IDENTITY_ASSOCIATIONS_URL, USER_IDENTITY_URL, \
                OIDC_VAULT_URL, INTERNAL_TIMEOUT_MS, REQUEST_TIMEOUT_MS, SHUTDOWN_GRACE_SECONDS, MAX_BODY_BYTES, \
                RATE_LIMITS, LOG_LEVEL, LOG_FORMAT; OpenTelemetry's OTEL_EXPORTER_OTLP_ENDPOINT (traces over OTLP/HTTP, \
                off when unset) and the other standard OTEL_* variables.

                The service's own settings, with their defaults and meanings, are in the README's configuration tables.
                """)
    }

    public init() {}

    public func run() async throws {
        let (configuration, settings) = S.startUp()
        let tracing: (any Service)?
        do {
            tracing = try SuiteTracing.bootstrap(serviceName: S.name, logger: Logger(label: S.name))
        } catch {
            FileHandle.standardError.write(Data("\(S.name): configuration error: \(error)\n".utf8))
            Glibc.exit(2)
        }
        let built = try await SuiteApplication.build(S.self, configuration: configuration, settings: settings)
        try await built.run(first: tracing.map { [$0] } ?? [])
    }
}

/// `<service> check`: exits 0 when the service on this host answers `/health/ready` with
/// 200 within two seconds, 1 otherwise. For container health checks, where the image
/// has no curl.
public struct CheckCommand<S: SuiteService>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "check", abstract: "Exit 0 when this host's service is ready (GET /health/ready), 1 otherwise.")
    }

    public init() {}

    public func run() async throws {
        let port: Int
        do {
            port = try ConfigReader().int("PORT", default: S.defaultPort, range: 1...65535)
        } catch {
            throw ExitCode(2)
        }
        let url = "http://127.0.0.1:\(port)/health/ready"
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2))
            _ = try await response.body.collect(upTo: 1 << 16)
            guard response.status == .ok else {
                print("\(S.name): not ready (\(response.status.code))")
                throw ExitCode(1)
            }
            print("\(S.name): ready")
        } catch let exit as ExitCode {
            throw exit
        } catch {
            print("\(S.name): not answering at \(url)")
            throw ExitCode(1)
        }
    }
}

public struct MigrateCommand<S: SuiteService>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "migrate", abstract: "Apply pending migrations to the service's schema and exit.")
    }

    public init() {}

    public func run() async throws {
        let (configuration, _) = S.startUp()
        var logger = Logger(label: S.name)
        logger.logLevel = configuration.logLevel
        let client = configuration.database.makeClient(logger: logger, applicationName: "\(S.name) migrate")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await SuiteApplication.migrate(S.self, database: client, schema: configuration.database.schema, logger: logger)
        }
    }
}

public struct KeysCommand<S: SuiteService>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "keys", abstract: "Make or inspect the service's Ed25519 signing key.",
            subcommands: [Generate.self, Public.self])
    }

    public init() {}

    public struct Generate: AsyncParsableCommand {
        public static var configuration: CommandConfiguration { CommandConfiguration(
            abstract: "Print a new signing key (the seed, base64) for SERVICE_SIGNING_KEY.") }

        public init() {}

        public func run() async throws {
            print(Ed25519SigningKey.generate().seedBase64)
        }
    }

    public struct Public: AsyncParsableCommand {
        public static var configuration: CommandConfiguration { CommandConfiguration(
            abstract: "Print the TRUSTED_SERVICES entry that lets peers verify SERVICE_SIGNING_KEY.") }

        public init() {}

        public func run() async throws {
            let reader = ConfigReader()
            do {
                let key = try Ed25519SigningKey.parse(reader.required("SERVICE_SIGNING_KEY"), variable: "SERVICE_SIGNING_KEY")
                print("\(S.name)=kid:\(key.kid):\(key.publicKey.rawRepresentation.base64EncodedString())")
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }
}

public struct TokenCommand<S: SuiteService>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "token",
            abstract: "Print a service token signed with SERVICE_SIGNING_KEY, for calling a peer by hand.")
    }

    @Option(help: "The service the token is for.") var audience: String
    @Option(help: "Space-separated scopes.") var scope: String = ""
    @Option(help: "Lifetime in seconds (at most 300: peers refuse longer).") var lifetime: Int = 60

    public init() {}

    public func run() async throws {
        let key: Ed25519SigningKey
        do {
            key = try Ed25519SigningKey.parse(ConfigReader().required("SERVICE_SIGNING_KEY"), variable: "SERVICE_SIGNING_KEY")
        } catch {
            throw ValidationError("\(error)")
        }
        let signer = await ServiceTokenSigner(issuer: S.name, signingKey: key)
        print(try await signer.mint(
            audience: audience, scope: scope, issuedAt: Int(Date().timeIntervalSince1970), lifetime: lifetime))
    }
}


extension SuiteService {
    /// For admin commands: reads the configuration (or exits with the line naming what
    /// is wrong), connects, migrates the schema, runs `body`, then disconnects.
    public static func withMigratedDatabase<T: Sendable>(
        _ body: @Sendable (PostgresClient, ServiceConfiguration, Settings, Logger) async throws -> T
    ) async throws -> T {
        let (configuration, settings) = loadConfigurationOrExit()
        var logger = Logger(label: name)
        logger.logLevel = .warning
        let client = configuration.database.makeClient(logger: logger, applicationName: "\(name) admin")
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await SuiteApplication.migrate(Self.self, database: client, schema: configuration.database.schema, logger: logger)
            return try await body(client, configuration, settings, logger)
        }
    }
}
