import Foundation
import IdentityAssociations
import MeetRooms
import OIDCVault
import ServiceLifecycle
import SuiteCore
import SuiteHTTP
import SuitePostgres
import SuiteSigning
import SuiteTesting
import Testing
import UserIdentity

/// The four services in one process, each on its own port and schema of one throwaway
/// database, trusting each other through their JWKS URLs, as in production.
struct Suite4: Sendable {
    let urls: [String: String]
    let services: [String: SuiteDependencies]
    let applications: [any Service]
    let routes: [String: [RouteEntry]]

    static func start() async throws -> Suite4 {
        let names = SuitePeer.allCases.map(\.rawValue)
        var ports: [String: Int] = [:]
        for name in names { ports[name] = try FreePort.next() }
        let urls = ports.mapValues { "http://127.0.0.1:\($0)" }
        let base = try await TestPostgres.shared.makeDatabase(schema: "public", poolSize: 4)

        func configuration(_ name: String, schema: String) -> ServiceConfiguration {
            var database = base
            database.schema = schema
            var trusted: [String: ServiceTrust.KeySource] = [:]
            for peer in names where peer != name { trusted[peer] = .jwks(url: urls[peer]! + "/internal/jwks.json") }
            return .forTesting(
                service: name, port: ports[name]!, database: database, trust: ServiceTrust(issuers: trusted),
                peers: urls.filter { $0.key != name })
        }

        let meetSettings = try MeetRoomsService.loadSettings(ConfigReader(["SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64]))
        let meet = try await SuiteApplication.build(
            MeetRoomsService.self, configuration: configuration("meet-rooms", schema: "meet"), settings: meetSettings)
        let identitySettings = try IdentityAssociationsService.loadSettings(ConfigReader([
            "SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64,
            "MAIL_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("suite4-mail").path,
        ]))
        let identity = try await SuiteApplication.build(
            IdentityAssociationsService.self, configuration: configuration("identity-associations", schema: "identity"),
            settings: identitySettings)
        let uaiSettings = try UserIdentityService.loadSettings(ConfigReader([
            "SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64, "UAI_BCRYPT_COST": "4",
            "MAIL_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("suite4-mail").path,
        ]))
        let uai = try await SuiteApplication.build(
            UserIdentityService.self, configuration: configuration("user-identity", schema: "uai"), settings: uaiSettings)
        let vaultSettings = try OIDCVaultService.loadSettings(ConfigReader([
            "SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64,
            "MAIL_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("suite4-mail").path,
        ]))
        let vault = try await SuiteApplication.build(
            OIDCVaultService.self, configuration: configuration("oidc-vault", schema: "vault"), settings: vaultSettings)
        return Suite4(
            urls: urls,
            services: [
                "meet-rooms": meet.dependencies, "identity-associations": identity.dependencies,
                "user-identity": uai.dependencies, "oidc-vault": vault.dependencies,
            ],
            applications: [meet.application, identity.application, uai.application, vault.application],
            routes: [
                "meet-rooms": meet.routes, "identity-associations": identity.routes, "user-identity": uai.routes,
                "oidc-vault": vault.routes,
            ])
    }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await LiveServices.run(applications, readyURLs: urls.values.map { $0 + "/health/ready" }, body)
    }
}

@Suite(.serialized) struct SuiteIntegrationTests {
    @Test func everyServiceCallsEveryOtherWithAServiceToken() async throws {
        let suite = try await Suite4.start()
        try await suite.run {
            for (caller, dependencies) in suite.services {
                for callee in suite.urls.keys where callee != caller {
                    let answer = try await dependencies.peers.send(.GET, to: callee, path: "/internal/ping", scope: "ping")
                    #expect(answer.status == 200, "\(caller) → \(callee)")
                    let body = try JSONDecoder().decode([String: String].self, from: Data(answer.body))
                    #expect(body == ["service": callee, "caller": caller])
                }
            }
        }
    }

    @Test func everyServiceIsReadyAndSpeaksItsDialect() async throws {
        let suite = try await Suite4.start()
        try await suite.run {
            for url in suite.urls.values {
                #expect(try await send(.GET, url + "/health/ready").status == 200)
                #expect(try await send(.GET, url + "/openapi.yaml").text.hasPrefix("openapi: 3.1"))
            }
            let matrix = try await send(.GET, suite.urls["identity-associations"]! + "/_matrix/identity/api/v1/unknown")
            #expect(matrix.status == 404)
            #expect(matrix.json?["errcode"] == "M_UNRECOGNIZED")
            let uai = try await send(.GET, suite.urls["user-identity"]! + "/unknown")
            #expect(uai.json?["type"] == "http://www.w3.org/Protocols/rfc2616/rfc2616")
            // The vault's OAuth endpoints answer RFC 6749 §5.2 JSON, set on their route group,
            // not guessed from the path: a path that merely ends in /token is FastAPI's 404.
            for path in ["/token", "/tenants/t1/oauth2/token", "/introspect", "/tenants/t1/revoke"] {
                let oauth = try await send(.POST, suite.urls["oidc-vault"]! + path)
                #expect(oauth.header("Content-Type") == "application/json", "\(path)")
                #expect(oauth.json?["error"] != nil && oauth.json?["detail"] == nil, "\(path)")
            }
            let unknown = try await send(.POST, suite.urls["oidc-vault"]! + "/oauth2/token")
            #expect(unknown.status == 404)
            #expect(unknown.json?["detail"] != nil && unknown.json?["error"] == nil)
        }
    }

    @Test func tokensForAnotherAudienceExpiredOrFromAStrangerAreRefused() async throws {
        let suite = try await Suite4.start()
        try await suite.run {
            let now = Int(Date().timeIntervalSince1970)
            for (caller, dependencies) in suite.services {
                for (callee, url) in suite.urls where callee != caller {
                    let signer = dependencies.signer
                    let wrongAudience = try await signer.mint(audience: caller, scope: "ping", issuedAt: now)
                    let expired = try await signer.mint(audience: callee, scope: "ping", issuedAt: now - 600)
                    let stranger = await ServiceTokenSigner(issuer: "mallory", signingKey: .generate())
                    let untrusted = try await stranger.mint(audience: callee, scope: "ping", issuedAt: now)
                    // A stranger's key, claiming to be a trusted peer.
                    let impostor = try await stranger.mint(audience: callee, scope: "ping", issuedAt: now, issuer: caller)

                    for (label, token) in [("wrong audience", wrongAudience), ("expired", expired), ("untrusted", untrusted), ("impostor", impostor)] {
                        let response = try await send(.GET, url + "/internal/ping", headers: [("Authorization", "Bearer \(token)")])
                        #expect(response.status == 401, "\(label): \(caller) → \(callee)")
                    }
                }
            }
        }
    }

    /// Closed by default: a route answers a caller without credentials, or with a forged
    /// token, only where its service registered it as public.
    @Test func everyRouteNotDeclaredPublicRefusesCallersWithoutCredentials() async throws {
        let suite = try await Suite4.start()
        try await suite.run {
            for (name, routes) in suite.routes {
                #expect(routes.count > 8, "\(name) registers its routes")
                #expect(routes.contains { !$0.isPublic }, "\(name) has closed routes")
                let letIn = try await RouteWalk.closedRoutesThatLetIn(
                    routes, baseURL: suite.urls[name]!,
                    formEncoded: ["POST /introspect", "POST /tenants/{tenant_id}/introspect", "POST /userinfo", "POST /tenants/{tenant_id}/userinfo"])
                #expect(letIn.isEmpty, "\(name): \(letIn.joined(separator: "\n"))")
            }
        }
    }

    @Test func eachServiceMigratedOnlyItsOwnSchema() async throws {
        let suite = try await Suite4.start()
        try await suite.run {
            for (name, dependencies) in suite.services {
                let schema = dependencies.configuration.database.schema
                let rows = try await dependencies.database.query(
                    "SELECT obj_description(oid) FROM pg_namespace WHERE nspname = \(schema)").collect()
                #expect(try rows.first?.decode(String.self).hasPrefix(name) == true, "\(name) owns \(schema)")
                let versions = try await Migrator(client: dependencies.database, schema: schema, logger: dependencies.logger).appliedVersions()
                let expected: [String: Int] = [
                    "meet-rooms": MeetRoomsService.migrations.count, "identity-associations": IdentityAssociationsService.migrations.count,
                    "user-identity": UserIdentityService.migrations.count, "oidc-vault": OIDCVaultService.migrations.count,
                ]
                #expect(versions == Array(1...(expected[name] ?? 1)), "\(name)")
            }
        }
    }
}

/// Every migration is a frozen `.sql` file in its service's `Migrations/` folder, and the
/// service applies exactly those files, in their order: a file added but not listed (or
/// listed but generated from Swift) fails here.
@Suite struct MigrationListTests {
    static func check<S: SuiteService>(_ service: S.Type, folder: String) throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Services/\(folder)/Migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        let fromFiles = try files.map { Migration(fileName: $0, bytes: Array(try Data(contentsOf: directory.appendingPathComponent($0)))) }
        #expect(S.migrations == fromFiles, "\(S.name) applies \(S.migrations.map(\.version)), its folder holds \(files)")
    }

    /// The outbox wake-up triggers are written into each service's frozen migration from
    /// `OutboxListener.triggerSQL`; each file must still say exactly that, for the tables
    /// the service's listener watches.
    @Test(arguments: ["meet-rooms", "identity-associations", "user-identity", "oidc-vault"])
    func outboxTriggerMigrationsSayWhatTheListenerExpects(service: String) throws {
        let (migrations, tables): ([Migration], [String]) = switch service {
        case "meet-rooms": (MeetRoomsService.migrations, MeetRoomsService.outboxTables)
        case "identity-associations": (IdentityAssociationsService.migrations, IdentityAssociationsService.outboxTables)
        case "user-identity": (UserIdentityService.migrations, UserIdentityService.outboxTables)
        default: (OIDCVaultService.migrations, OIDCVaultService.outboxTables)
        }
        let migration = try #require(migrations.first { $0.name.hasSuffix("outbox_notify") })
        func statements(_ sql: String) -> [String] {
            let code = sql.split(separator: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n")
            return SQLScript.statements(code).map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        }
        #expect(statements(migration.sql) == statements(OutboxListener.triggerSQL(tables: tables)))
    }

    @Test func eachServiceAppliesExactlyItsMigrationFiles() throws {
        try Self.check(MeetRoomsService.self, folder: "MeetRooms/Sources/MeetRooms")
        try Self.check(IdentityAssociationsService.self, folder: "IdentityAssociations/Sources/IdentityAssociations")
        try Self.check(UserIdentityService.self, folder: "UserIdentity/Sources/UserIdentity")
        try Self.check(OIDCVaultService.self, folder: "OIDCVault/Sources/OIDCVault")
    }
}
