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

@testable import UserIdentity

/// User&Identity under test, in process unless a test needs it live on loopback, with
/// its mail going to an SMTP sink.
struct UAI: Sendable {
    let base: String
    let client: ServiceClient
    let sink: SMTPSink
    let database: PostgresClient
    let settings: UserIdentitySettings
    let signingKey: Ed25519SigningKey

    static func settings(
        key: TokenSettings.Key = .eddsa(.generate()), sinkPort: Int, accessTTL: Int = 900,
        configure: (inout UserIdentitySettings) -> Void = { _ in }
    ) throws -> UserIdentitySettings {
        var settings = UserIdentitySettings(
            tokens: TokenSettings(key: key, issuer: "uai-test", accessTTL: accessTTL),
            bcryptCost: 4,
            signupRoles: ["tenant", "landlord"],
            disallowedSignupDomains: ["tenant": ["spotahome.com"]],
            mail: MailSettings(
                from: "accounts@example.com", transport: .smtp(SMTPConfiguration(host: "127.0.0.1", port: sinkPort))),
            templates: try MailTemplates(builtIn: BuiltInTemplates.all))
        // As a deployment lists its front ends (unset would mean PUBLIC_URL's host only).
        settings.callbackHosts = ["app.example.com", "spotahome.com"]
        configure(&settings)
        return settings
    }

    /// Runs `body` against a fresh service in its own schema.
    static func run(
        _ mode: ServiceFixture<UserIdentityService>.Mode = .inProcess,
        rateLimits: RateLimitSettings = RateLimitSettings(enabled: false),
        trust: ServiceTrust = ServiceTrust(issuers: [:]),
        key: TokenSettings.Key = .eddsa(.generate()),
        configure: @escaping (inout UserIdentitySettings) -> Void = { _ in },
        alongside: [any Service] = [], readyURLs: [String] = [],
        _ body: @Sendable (UAI) async throws -> Void
    ) async throws {
        var options = ServiceFixture<UserIdentityService>.Options()
        options.rateLimits = rateLimits
        options.trust = trust
        try await ServiceFixture.run(UserIdentityService.self, mode: mode, options: options, alongside: alongside, readyURLs: readyURLs) {
            _, sink in
            try settings(key: key, sinkPort: sink.port, configure: configure)
        } _: { fixture in
            try await body(
                UAI(
                    base: fixture.base, client: fixture.client, sink: fixture.sink, database: fixture.database, settings: fixture.settings,
                    signingKey: fixture.configuration.signingKey))
        }
    }

    // MARK: Requests

    @discardableResult
    func call(
        _ method: HTTPMethod, _ path: String, json: JSONValue? = nil, token: String? = nil, headers: [(String, String)] = []
    ) async throws -> TestResponse {
        try await client.send(method, base + path, json: json, token: token, headers: headers)
    }

    /// An account made directly in the database (bypassing sign-up), enabled unless told.
    @discardableResult
    func user(
        _ email: String, password: String? = "secret123", roles: [String] = [], enabled: Bool = true, prototype: Bool = false,
        locale: String = "en", fullname: String = "Test User"
    ) async throws -> UUID {
        try await Self.user(
            email, in: database, password: password, roles: roles, enabled: enabled, prototype: prototype, locale: locale, fullname: fullname)
    }

    /// An account made directly in `database`, for the harness and the in-process tests.
    @discardableResult
    static func user(
        _ email: String, in database: PostgresClient, password: String? = "secret123", roles: [String] = [], enabled: Bool = true,
        prototype: Bool = false, locale: String = "en", fullname: String = "Test User"
    ) async throws -> UUID {
        let hash = try await password.asyncMap { try await PasswordHasher(cost: 4).hash($0) }
        let user = User(
            id: UUID(), email: email, fullname: fullname, locale: locale, roles: roles, passwordHash: hash, isEnabled: enabled,
            prototype: prototype, createdAt: Date(), lastAuthenticationAt: nil)
        let store = UserStore(database: database, logger: .init(label: "test"))
        try await database.withTransaction(logger: .init(label: "test")) { try await store.insert(user, on: $0) }
        return user.id
    }

    func login(_ email: String, _ password: String = "secret123") async throws -> (access: String, refresh: String) {
        let response = try await call(.POST, "/authentications", json: ["email": .string(email), "password": .string(password)])
        #expect(response.status == 201, "\(response.text)")
        guard let access = response.json?["accessToken"]?.stringValue, let refresh = response.json?["refreshToken"]?.stringValue
        else { throw HarnessError.noToken(response.text) }
        return (access, refresh)
    }

    /// A logged-in admin's access token.
    func admin(_ email: String = "admin@example.com") async throws -> String {
        try await user(email, roles: ["uai_admin"])
        return try await login(email).access
    }

    /// A token signed with the service's key but with the claims the test wants.
    func forge(_ claims: UserClaims) -> String {
        UserTokens(settings: settings.tokens).sign(claims)
    }

    /// The link starting with `prefix` in the latest mail to `address` that has one,
    /// waiting for it to arrive.
    func link(to address: String, prefix: String, seconds: Double = 10) async throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            for mail in sink.messages.reversed() where mail.recipients.contains(address) {
                let text = mail.text
                if let range = text.range(of: prefix) {
                    return String(text[range.lowerBound...].prefix { !$0.isWhitespace && $0 != "<" && $0 != "\"" })
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError.noLink(sink.messages.map(\.text).joined(separator: "\n---\n"))
    }

    @discardableResult
    func count(_ sql: String) async throws -> Int {
        let rows = try await database.query(PostgresQuery(unsafeSQL: sql), logger: .init(label: "test"))
        for try await value in rows.decode(Int.self) { return value }
        return 0
    }

    enum HarnessError: Error {
        case noToken(String)
        case noLink(String)
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
