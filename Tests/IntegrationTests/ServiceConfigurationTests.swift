import Foundation
import IdentityAssociations
import MeetRooms
import OIDCVault
import SuiteCore
import SuiteHTTP
import SuiteSigning
import Testing
import UserIdentity

/// What an operator gets from each executable's configuration: the documented defaults,
/// and one clear line for a wrong value.
@Suite struct ServiceConfigurationTests {
    static let services: [(any SuiteService.Type, port: Int, schema: String, publicURL: String)] = [
        (MeetRoomsService.self, 8081, "meet", "http://localhost:8080/external-api"),
        (IdentityAssociationsService.self, 8082, "identity", "http://localhost:8080/_matrix/identity"),
        (UserIdentityService.self, 8083, "uai", "http://localhost:8080/uai"),
        (OIDCVaultService.self, 8084, "vault", "http://localhost:8080/vault"),
    ]

    func load(_ service: any SuiteService.Type, _ environment: [String: String]) throws(ConfigurationError) -> ServiceConfiguration {
        try ServiceConfiguration.load(
            ConfigReader(environment), service: service.name, defaultPort: service.defaultPort,
            defaultSchema: service.defaultSchema, publicPath: service.publicPath)
    }

    @Test func migrationsRunAtStartUnlessTurnedOff() throws {
        let key = Ed25519SigningKey.generate().seedBase64
        #expect(try load(MeetRoomsService.self, ["SERVICE_SIGNING_KEY": key]).migrateOnStart == true)
        #expect(try load(MeetRoomsService.self, ["SERVICE_SIGNING_KEY": key, "MIGRATE_ON_START": "false"]).migrateOnStart == false)
        #expect(throws: ConfigurationError.self) { try load(MeetRoomsService.self, ["SERVICE_SIGNING_KEY": key, "MIGRATE_ON_START": "maybe"]) }
    }

    @Test(arguments: 0..<4)
    func defaultsMatchTheArchitecture(index: Int) throws {
        let (service, port, schema, publicURL) = Self.services[index]
        let configuration = try load(service, ["SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64])
        #expect(configuration.port == port)
        #expect(configuration.database.schema == schema)
        #expect(configuration.database.poolSize == 8)
        #expect(configuration.publicURL == publicURL)
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.logFormat == .json)
        // Every other service is a peer at its default port.
        #expect(configuration.peers.count == 3)
        #expect(configuration.peers[service.name] == nil)
        // Numbered from 1 without gaps; the first one marks the schema as the service's.
        #expect(service.migrations.map(\.version) == Array(1...service.migrations.count))
    }

    @Test(arguments: 0..<4)
    func aMissingSigningKeyIsNamed(index: Int) {
        let error = #expect(throws: ConfigurationError.self) { try load(Self.services[index].0, [:]) }
        #expect(error?.variable == "SERVICE_SIGNING_KEY")
    }

    @Test func wrongValuesAreNamed() {
        let key = Ed25519SigningKey.generate().seedBase64
        let cases: [(String, String)] = [
            ("PORT", "eighty"), ("DATABASE_URL", "mysql://x@y/z"), ("DATABASE_POOL_SIZE", "0"), ("LOG_LEVEL", "loud"),
            ("LOG_FORMAT", "xml"), ("PUBLIC_URL", "localhost:8080"), ("TRUSTED_SERVICES", "meet-rooms"),
            ("USER_IDENTITY_URL", "not a url"), ("DATABASE_SCHEMA", "Bad-Schema"),
        ]
        for (variable, value) in cases {
            let error = #expect(throws: ConfigurationError.self) {
                try load(MeetRoomsService.self, ["SERVICE_SIGNING_KEY": key, variable: value])
            }
            #expect(error?.variable == variable, "\(variable)=\(value)")
        }
    }

    @Test func secretsAreMaskedInTheStartUpSummary() throws {
        let key = Ed25519SigningKey.generate()
        let configuration = try load(UserIdentityService.self, [
            "SERVICE_SIGNING_KEY": key.seedBase64, "DATABASE_URL": "postgres://uai:topsecret@db:5432/suite",
        ])
        let summary = "\(configuration.summary)"
        #expect(!summary.contains("topsecret"))
        #expect(!summary.contains(key.seedBase64))
        #expect(summary.contains(key.kid))
    }

    @Test func eachServiceChoosesItsErrorDialect() {
        #expect(IdentityAssociationsService.errorDialect(forPath: "/_matrix/identity/v2/lookup") == .matrix)
        #expect(IdentityAssociationsService.errorDialect(forPath: "/internal/invites") == .problem())
        #expect(UserIdentityService.errorDialect(forPath: "/users") == .problem(type: "http://www.w3.org/Protocols/rfc2616/rfc2616"))
        // The vault answers as the seed's FastAPI does (its OAuth endpoints set theirs on
        // their route group: SuiteIntegrationTests); its operational routes keep problem+json.
        #expect(OIDCVaultService.errorDialect(forPath: "/tenants") == .fastapi)
        #expect(OIDCVaultService.errorDialect(forPath: "/internal/ping") == .problem())
        // The External API answers as Django REST framework does; operational routes keep problem+json.
        #expect(MeetRoomsService.errorDialect(forPath: "/external-api/v1.0/rooms") == .drf)
        #expect(MeetRoomsService.errorDialect(forPath: "/health/ready") == .problem())
    }
}
