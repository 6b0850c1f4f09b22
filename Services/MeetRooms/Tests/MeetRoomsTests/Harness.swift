import Foundation
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import SuiteCore
import SuiteHTTP
import SuiteMail
import SuitePostgres
import SuiteSigning
import SuiteTesting
import Testing

@testable import MeetRooms
@testable import UserIdentity
@testable import IdentityAssociations

/// meet-rooms and the real user-identity on loopback, trusting each other by JWKS, with
/// identity-associations' address pointing where the test says.
struct Meet: Sendable {
    let base: String
    let uaiBase: String
    let database: PostgresClient
    let uaiDatabase: PostgresClient
    let settings: MeetSettings
    /// Where meet-rooms expects identity-associations (nothing listens until a test starts it).
    let identityAssociationsPort: Int
    let meetURL: String

    static func run(
        rateLimits: RateLimitSettings = RateLimitSettings(enabled: false),
        startUserIdentity: Bool = true,
        configure: @escaping @Sendable (inout MeetSettings) -> Void = { _ in },
        _ body: @Sendable (Meet) async throws -> Void
    ) async throws {
        let meetPort = try FreePort.next(), uaiPort = try FreePort.next()
        let meetURL = "http://127.0.0.1:\(meetPort)", uaiURL = "http://127.0.0.1:\(uaiPort)"
        let suffix = SecureRandom.string(count: 8, alphabet: Array("abcdefghijklmnopqrstuvwxyz".utf8))
        var peers = ["user-identity": uaiURL]
        let identityPort = try FreePort.next()
        peers["identity-associations"] = "http://127.0.0.1:\(identityPort)"
        var meetConfiguration = ServiceConfiguration.forTesting(
            service: "meet-rooms", port: meetPort, database: try await TestPostgres.shared.makeDatabase(schema: "meet_" + suffix),
            trust: ServiceTrust(issuers: ["user-identity": .jwks(url: uaiURL + "/internal/jwks.json")]), peers: peers,
            rateLimits: rateLimits)
        // The gateway keeps meet's prefix, so PUBLIC_URL names where `/external-api` is.
        meetConfiguration.publicURL = meetURL + "/external-api"
        var settings = MeetSettings(signingKey: .generate(), roomBaseURL: "https://meet.example.com")
        configure(&settings)
        let meet = try await SuiteApplication.build(MeetRoomsService.self, configuration: meetConfiguration, settings: settings)

        var services: [any Service] = [meet.application]
        var ready = [meetURL + "/health/ready"]
        var uaiDatabase = meet.dependencies.database
        if startUserIdentity {
            let uaiConfiguration = ServiceConfiguration.forTesting(
                service: "user-identity", port: uaiPort, database: try await TestPostgres.shared.makeDatabase(schema: "uai_" + suffix),
                trust: ServiceTrust(issuers: ["meet-rooms": .jwks(url: meetURL + "/internal/jwks.json")]))
            let uaiSettings = try UserIdentityService.loadSettings(ConfigReader([
                "SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64, "UAI_BCRYPT_COST": "4",
                "MAIL_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("meet-tests-mail").path,
            ]))
            // Built only when it runs: a built service owns an HTTP client that its run shuts down.
            let uai = try await SuiteApplication.build(UserIdentityService.self, configuration: uaiConfiguration, settings: uaiSettings)
            services.append(uai.application)
            ready.append(uaiURL + "/health/ready")
            uaiDatabase = uai.dependencies.database
        }
        let fixture = Meet(
            base: meetURL + "/external-api/v1.0", uaiBase: uaiURL, database: meet.dependencies.database,
            uaiDatabase: uaiDatabase, settings: settings, identityAssociationsPort: identityPort, meetURL: meetURL)
        try await LiveServices.run(services, readyURLs: ready) { try await body(fixture) }
    }

    /// The real identity-associations on the port meet-rooms calls, mailing to `sink`,
    /// trusting meet-rooms' service tokens. Run it with `LiveServices.run`.
    func identityAssociations(sink: SMTPSink) async throws -> (service: any Service, ready: String) {
        let configuration = ServiceConfiguration.forTesting(
            service: "identity-associations", port: identityAssociationsPort,
            database: try await TestPostgres.shared.makeDatabase(schema: "identity_" + String(identityAssociationsPort)),
            trust: ServiceTrust(issuers: ["meet-rooms": .jwks(url: meetURL + "/internal/jwks.json")]))
        let settings = IdentitySettings(
            mail: MailSettings(from: "rooms@example.com", transport: .smtp(SMTPConfiguration(host: "127.0.0.1", port: sink.port))),
            templates: try MailTemplates(builtIn: IdentityAssociations.BuiltInTemplates.all))
        let built = try await SuiteApplication.build(IdentityAssociationsService.self, configuration: configuration, settings: settings)
        return (built.application, "http://127.0.0.1:\(identityAssociationsPort)/health/ready")
    }

    /// An application registered as an operator would; returns its client id and secret.
    func application(
        scopes: [String] = Scope.all, domains: [String] = [], active: Bool = true, name: String = "Test app"
    ) async throws -> (id: String, secret: String) {
        let secret = Credentials.newSecret()
        let application = Application(
            id: UUID(), name: name, clientID: Credentials.newClientID(), secretHash: Credentials.hash(secret), isActive: active,
            scopes: scopes, domains: domains, createdAt: Date())
        try await ApplicationStore(database: database, logger: .init(label: "test")).insert(application)
        return (application.clientID, secret)
    }

    /// A user at user-identity.
    @discardableResult
    func user(_ email: String, enabled: Bool = true, prototype: Bool = false) async throws -> UUID {
        let user = User(
            id: UUID(), email: email, fullname: "Some User", locale: "en", roles: [], passwordHash: nil, isEnabled: enabled,
            prototype: prototype, createdAt: Date(), lastAuthenticationAt: nil)
        let store = UserStore(database: uaiDatabase, logger: .init(label: "test"))
        try await uaiDatabase.withTransaction(logger: .init(label: "test")) { try await store.insert(user, on: $0) }
        return user.id
    }

    @discardableResult
    func call(
        _ method: HTTPMethod, _ path: String, json: JSONValue? = nil, token: String? = nil, headers: [(String, String)] = []
    ) async throws -> TestResponse {
        try await send(method, base + path, json: json, token: token, headers: headers)
    }

    func tokenResponse(_ app: (id: String, secret: String), for email: String) async throws -> TestResponse {
        try await call(.POST, "/application/token/", json: [
            "client_id": .string(app.id), "client_secret": .string(app.secret), "grant_type": "client_credentials",
            "scope": .string(email),
        ])
    }

    func token(_ app: (id: String, secret: String), for email: String) async throws -> String {
        let response = try await tokenResponse(app, for: email)
        guard response.status == 200, let token = response.json?["access_token"]?.stringValue else {
            throw HarnessError.noToken(response.text)
        }
        return token
    }

    enum HarnessError: Error {
        case noToken(String)
    }
}
