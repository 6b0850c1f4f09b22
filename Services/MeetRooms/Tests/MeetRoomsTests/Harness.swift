import Foundation
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import SuiteCore
import SuiteHTTP
import SuitePostgres
import SuiteSigning
import SuiteTesting
import Testing

@testable import MeetRooms
// The peers run for real, started through their public API, and are reached over HTTP.
import UserIdentity
import IdentityAssociations

/// meet-rooms and the real user-identity on loopback, trusting each other by JWKS, with
/// identity-associations' address pointing where the test says. Users are made and
/// disabled through user-identity's HTTP API, as its admin.
struct Meet: Sendable {
    let base: String
    let client: ServiceClient
    let uaiBase: String
    let database: PostgresClient
    /// A user-identity admin's access token (nil when user-identity is not started).
    let uaiAdmin: String?
    let settings: MeetSettings
    /// Where meet-rooms expects identity-associations (nothing listens until a test starts it).
    let identityAssociationsPort: Int
    let meetURL: String

    /// Live whenever user-identity runs: it fetches meet-rooms' JWKS over HTTP to trust
    /// the service tokens meet-rooms sends it. Without it, in process.
    static func run(
        rateLimits: RateLimitSettings = RateLimitSettings(enabled: false),
        startUserIdentity: Bool = true,
        configure: @escaping @Sendable (inout MeetSettings) -> Void = { _ in },
        _ body: @Sendable (Meet) async throws -> Void
    ) async throws {
        let meetPort = try FreePort.next(), uaiPort = try FreePort.next(), identityPort = try FreePort.next()
        let meetURL = "http://127.0.0.1:\(meetPort)", uaiURL = "http://127.0.0.1:\(uaiPort)"
        var alongside: [any Service] = []
        var ready: [String] = []
        var uaiDatabase: PostgresClient?
        if startUserIdentity {
            let uaiConfiguration = ServiceConfiguration.forTesting(
                service: "user-identity", port: uaiPort,
                database: try await TestPostgres.shared.makeDatabase(schema: "uai_" + SecureRandom.string(count: 8, alphabet: Array("abcdefghijklmnopqrstuvwxyz".utf8))),
                trust: ServiceTrust(issuers: ["meet-rooms": .jwks(url: meetURL + "/internal/jwks.json")]))
            let uaiSettings = try UserIdentityService.loadSettings(ConfigReader([
                "SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64, "UAI_BCRYPT_COST": "4",
                "MAIL_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("meet-tests-mail").path,
            ]))
            // Built only when it runs: a built service owns an HTTP client that its run shuts down.
            let uai = try await SuiteApplication.build(UserIdentityService.self, configuration: uaiConfiguration, settings: uaiSettings)
            alongside.append(uai.application)
            ready.append(uaiURL + "/health/ready")
            uaiDatabase = uai.dependencies.database
        }
        var options = ServiceFixture<MeetRoomsService>.Options()
        options.port = meetPort
        // The gateway keeps meet's prefix, so PUBLIC_URL names where `/external-api` is.
        options.publicPath = "/external-api"
        options.rateLimits = rateLimits
        options.trust = ServiceTrust(issuers: ["user-identity": .jwks(url: uaiURL + "/internal/jwks.json")])
        options.peers = ["user-identity": uaiURL, "identity-associations": "http://127.0.0.1:\(identityPort)"]
        try await ServiceFixture.run(
            MeetRoomsService.self, mode: startUserIdentity ? .live : .inProcess, options: options, alongside: alongside, readyURLs: ready
        ) { _, _ in
            var settings = MeetSettings(signingKey: .generate(), roomBaseURL: "https://meet.example.com")
            configure(&settings)
            return settings
        } _: { [uaiDatabase] service in
            var admin: String?
            if let uaiDatabase {
                // The installation's first admin, as `user-identity users create-admin` makes it.
                _ = try await UserIdentityService.createAdmin(
                    email: "meet-admin@example.org", fullname: "Meet Admin", password: "admin-secret-1", database: uaiDatabase,
                    bcryptCost: 4, logger: .init(label: "test"))
                let login = try await send(
                    .POST, uaiURL + "/authentications", json: ["email": "meet-admin@example.org", "password": "admin-secret-1"])
                admin = login.json?["accessToken"]?.stringValue
            }
            try await body(
                Meet(
                    base: meetURL + "/external-api/v1.0", client: service.client, uaiBase: uaiURL, database: service.database, uaiAdmin: admin,
                    settings: service.settings, identityAssociationsPort: identityPort, meetURL: meetURL))
        }
    }

    /// The real identity-associations on the port meet-rooms calls, mailing to `sink`,
    /// trusting meet-rooms' service tokens. Run it with `LiveServices.run`.
    func identityAssociations(sink: SMTPSink) async throws -> (service: any Service, ready: String) {
        let configuration = ServiceConfiguration.forTesting(
            service: "identity-associations", port: identityAssociationsPort,
            database: try await TestPostgres.shared.makeDatabase(schema: "identity_" + String(identityAssociationsPort)),
            trust: ServiceTrust(issuers: ["meet-rooms": .jwks(url: meetURL + "/internal/jwks.json")]))
        let settings = try IdentityAssociationsService.loadSettings(ConfigReader([
            "SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64, "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": String(sink.port), "SMTP_TLS": "none", "MAIL_FROM": "rooms@example.com",
        ]))
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

    /// A user at user-identity, made by its admin over HTTP (`POST /users`, or
    /// `POST /user-prototypes` for a prototype), disabled afterwards when asked.
    @discardableResult
    func user(_ email: String, enabled: Bool = true, prototype: Bool = false) async throws -> UUID {
        let made = try await send(
            .POST, uaiBase + (prototype ? "/user-prototypes" : "/users"), json: ["email": .string(email), "fullname": "Some User"],
            token: uaiAdmin)
        guard made.status == 201, let location = made.header("Location"), let id = UUID(uuidString: String(location.split(separator: "/").last ?? ""))
        else { throw HarnessError.noUser(made.text) }
        if !enabled { try await disable(id) }
        return id
    }

    /// Disables the user at user-identity, as its admin would.
    func disable(_ user: UUID) async throws {
        let answer = try await send(.DELETE, uaiBase + "/users/\(user.uuidString.lowercased())/enabling", json: nil, token: uaiAdmin)
        guard answer.status == 204 else { throw HarnessError.noUser(answer.text) }
    }

    @discardableResult
    func call(
        _ method: HTTPMethod, _ path: String, json: JSONValue? = nil, token: String? = nil, headers: [(String, String)] = []
    ) async throws -> TestResponse {
        try await client.send(method, base + path, json: json, token: token, headers: headers)
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
        case noUser(String)
    }
}
