import Crypto
import Foundation
import NIOHTTP1
import PostgresNIO
import SuiteCore
import SuiteHTTP
import SuiteMail
import SuitePostgres
import SuiteSigning
import SuiteTesting
import Testing
import VaultZKP

@testable import OIDCVault

/// oidc-vault under test (in process unless a test needs it live on loopback) with its own schema, mailing to an SMTP sink,
/// administered with the operator's bootstrap key.
struct VaultFixture: Sendable {
    let base: String
    let service: ServiceClient
    let database: PostgresClient
    let sink: SMTPSink
    let settings: VaultSettings
    static let operatorKey = "operator-key-for-tests-0123456789"

    /// A fresh database unless `database` is given: a second run on the same one is the
    /// same vault restarted.
    static func run(
        _ mode: ServiceFixture<OIDCVaultService>.Mode = .inProcess,
        rateLimits: RateLimitSettings = RateLimitSettings(enabled: false),
        database: DatabaseConfiguration? = nil,
        trust: ServiceTrust = ServiceTrust(issuers: [:]),
        configure: @escaping @Sendable (inout VaultSettings) -> Void = { _ in },
        _ body: @Sendable (VaultFixture) async throws -> Void
    ) async throws {
        var options = ServiceFixture<OIDCVaultService>.Options()
        options.rateLimits = rateLimits
        options.database = database
        options.trust = trust
        try await ServiceFixture.run(OIDCVaultService.self, mode: mode, options: options) { _, sink in
            var settings = VaultSettings(
                loginUIURL: "https://login.example.com/", adminAPIKey: operatorKey,
                mail: MailSettings(from: "vault@example.com", transport: .smtp(SMTPConfiguration(host: "127.0.0.1", port: sink.port))))
            configure(&settings)
            return settings
        } _: { service in
            let fixture = VaultFixture(base: service.base, service: service.client, database: service.database, sink: service.sink, settings: service.settings)
            try await fixture.waitForDefaultTenant()
            try await body(fixture)
        }
    }

    /// The default tenant is made in the background at start.
    func waitForDefaultTenant() async throws {
        for _ in 0..<200 {
            if try await call(.GET, "/.well-known/openid-configuration").status == 200 { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("the default tenant never appeared")
    }

    enum Caller {
        case `operator`, key(String), bearer(String), nobody
    }

    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, json: JSONValue? = nil, as caller: Caller = .operator, headers: [(String, String)] = []) async throws -> TestResponse {
        var all = headers
        var token: String?
        switch caller {
        case .operator: all.append(("X-API-Key", Self.operatorKey))
        case .key(let key): all.append(("X-API-Key", key))
        case .bearer(let bearer): token = bearer
        case .nobody: break
        }
        return try await service.send(method, base + path, json: json, token: token, headers: all)
    }

    func form(_ path: String, _ fields: [(String, String)], basic: (String, String)? = nil) async throws -> TestResponse {
        let body = fields.map { "\(Self.formEscape($0.0))=\(Self.formEscape($0.1))" }.joined(separator: "&")
        var headers = [("Content-Type", "application/x-www-form-urlencoded")]
        if let basic { headers.append(("Authorization", "Basic " + Data("\(Self.formEscape(basic.0)):\(Self.formEscape(basic.1))".utf8).base64EncodedString())) }
        return try await service.send(.POST, base + path, headers: headers, body: Array(body.utf8))
    }

    static func formEscape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// A tenant with the seed's defaults and `overrides`.
    func tenant(_ id: String, _ overrides: [String: JSONValue] = [:]) async throws {
        var body: [String: JSONValue] = ["tenant_id": .string(id), "register_enable": true, "display_name": .string(id.capitalized)]
        for (name, value) in overrides { body[name] = value }
        let response = try await call(.POST, "/tenants", json: .object(body))
        #expect(response.status == 201, "\(response.text)")
    }

    struct TestClient: Sendable {
        let id: String
        let secret: String?
        let tenant: String
        let redirect: String
    }

    func client(
        _ id: String, tenant: String, type: String = "confidential", algorithm: String = "EdDSA",
        scopes: [String] = ["openid", "profile", "email", "api"], registerEnable: Bool = true
    ) async throws -> TestClient {
        let redirect = "https://rp.example.com/callback"
        let response = try await call(.POST, "/clients", json: [
            "client_id": .string(id), "name": .string("App \(id)"), "tenant_id": .string(tenant), "redirect_uris": [.string(redirect)],
            "post_logout_redirect_uri": ["https://rp.example.com/bye"], "allowed_scopes": .array(scopes.map { .string($0) }),
            "client_type": .string(type), "sing_alg": .string(algorithm), "register_enable": .bool(registerEnable),
        ])
        #expect(response.status == 200, "\(response.text)")
        return TestClient(id: id, secret: response.json?["client_secret"]?.stringValue, tenant: tenant, redirect: redirect)
    }

    /// The tenant's encryption key from its JWKS, as a client finds it.
    func encryptionKey(tenant: String) async throws -> (Curve25519.KeyAgreement.PublicKey, String) {
        let jwks = try await call(.GET, "/tenants/\(tenant)/.well-known/jwks.json", as: .nobody)
        let key = try #require(jwks.json?["keys"]?.arrayValue?.first { $0["use"] == "enc" })
        let raw = try #require(key["x"]?.stringValue.flatMap(Base64URL.decode))
        return (try Curve25519.KeyAgreement.PublicKey(rawRepresentation: raw), key["kid"]!.stringValue!)
    }

    @discardableResult
    func register(
        tenant: String, username: String, email: String, image: GrayImage, authReqID: String? = nil
    ) async throws -> TestResponse {
        let (key, kid) = try await encryptionKey(tenant: tenant)
        let sealed = try ZKPClient(tenant: tenant, username: username).enroll(image: image, encryptionKey: key, kid: kid)
        let query = authReqID.map { "auth_req_id=\($0)" } ?? "tenant_id=\(tenant)"
        return try await call(.POST, "/auth/register?\(query)", json: [
            "username": .string(username), "email": .string(email), "encrypted_commitment": .string(sealed), "proto_version": "1",
            "log_data": ["status": "ok", "similarity": .number(0.98)],
        ], as: .nobody)
    }

    /// A challenge answered with `image`: the authenticate body, not yet sent.
    func answer(tenant: String, username: String, image: GrayImage, authReqID: String? = nil, client: String = "") async throws -> [String: JSONValue] {
        let (loginKey, cipherKey) = ZKPClient.loginKey()
        let query = authReqID.map { "auth_req_id=\($0)" } ?? "tenant_id=\(tenant)"
        let challenge = try await call(.POST, "/auth/challenge?\(query)", json: ["username": .string(username), "cipherKey": .string(cipherKey)], as: .nobody)
        #expect(challenge.status == 200, "\(challenge.text)")
        let answer = try ZKPClient(tenant: tenant, username: username).answer(
            challenge: try #require(challenge.json?["challenge_data"]?.stringValue), loginKey: loginKey, image: image, client: client)
        return [
            "username": .string(username), "cipherKey": .string(cipherKey), "challenge_id": .string(answer.challengeID),
            "challenge_data": .string(answer.challengeData), "ber": answer.ber,
        ]
    }

    func authenticate(tenant: String, body: [String: JSONValue], authReqID: String? = nil, headers: [(String, String)] = []) async throws -> TestResponse {
        let query = authReqID.map { "auth_req_id=\($0)" } ?? "tenant_id=\(tenant)"
        return try await call(.POST, "/auth/authenticate?\(query)", json: .object(body), as: .nobody, headers: headers)
    }

    struct Flow: Sendable {
        let verifier: String
        let challenge: String
        let state: String
        let nonce: String

        init() {
            verifier = Base64URL.encode(SecureRandom.bytes(32))
            challenge = Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
            state = "st-" + SecureRandom.string(count: 8)
            nonce = "n-" + SecureRandom.string(count: 8)
        }
    }

    /// /authorize as a browser follows it: the auth_req_id from the login UI redirect.
    func authorize(_ client: TestClient, flow: Flow, scope: String = "openid profile email") async throws -> String {
        let query = [
            ("response_type", "code"), ("client_id", client.id), ("redirect_uri", client.redirect), ("scope", scope),
            ("state", flow.state), ("nonce", flow.nonce), ("code_challenge", flow.challenge), ("code_challenge_method", "S256"),
        ].map { "\($0.0)=\(Self.formEscape($0.1))" }.joined(separator: "&")
        let response = try await service.fetchWithoutRedirect(base + "/tenants/\(client.tenant)/authorize?" + query)
        #expect(response.status == 302, "\(response.text)")
        let location = try #require(response.header("Location"))
        #expect(location.hasPrefix("https://login.example.com/"))
        return try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "auth_req_id" }?.value)
    }

    /// Everything from /authorize to the token response, logging in with `image`.
    func codeFlow(_ client: TestClient, username: String, image: GrayImage, flow: Flow = Flow()) async throws -> JSONValue {
        let authReqID = try await authorize(client, flow: flow)
        let body = try await answer(tenant: client.tenant, username: username, image: image, authReqID: authReqID, client: client.id)
        let authenticated = try await authenticate(tenant: client.tenant, body: body, authReqID: authReqID)
        #expect(authenticated.status == 200, "\(authenticated.text)")
        let nonce = try #require(authenticated.json?["nonce"]?.stringValue)
        let redirect = try await service.fetchWithoutRedirect(base + "/authorize/continue?auth_req_id=\(authReqID)&nonce=\(nonce)")
        #expect(redirect.status == 302, "\(redirect.text)")
        let items = URLComponents(string: try #require(redirect.header("Location")))?.queryItems ?? []
        #expect(items.first { $0.name == "state" }?.value == flow.state)
        let code = try #require(items.first { $0.name == "code" }?.value)
        var fields = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", client.redirect), ("code_verifier", flow.verifier), ("client_id", client.id)]
        if let secret = client.secret { fields.append(("client_secret", secret)) }
        let token = try await form("/tenants/\(client.tenant)/oauth2/token", fields)
        #expect(token.status == 200, "\(token.text)")
        return try #require(token.json)
    }

    /// The claims of a JWT, unverified (tests verify separately where it matters).
    static func claims(_ token: String) -> JSONValue? {
        let parts = token.split(separator: ".")
        guard parts.count == 3, let data = Base64URL.decode(parts[1]) else { return nil }
        return try? JSONParser.parse(Array(data))
    }

    static func header(_ token: String) -> JSONValue? {
        guard let first = token.split(separator: ".").first, let data = Base64URL.decode(first) else { return nil }
        return try? JSONParser.parse(Array(data))
    }
}
