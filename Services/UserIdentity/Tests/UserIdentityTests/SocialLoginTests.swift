import Crypto
import _CryptoExtras
import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import SuiteCore
import SuiteHTTP
import SuiteSigning
import SuiteTesting
import Synchronization
import Testing

@testable import UserIdentity

/// Social login against fake providers over real HTTP: ID tokens signed by the fake's
/// own RSA key and checked against its JWKS, access tokens checked with the provider,
/// accounts linked or created, and every way a token or a provider can fail.
@Suite struct SocialLoginTests {
    static func run(_ body: @Sendable @escaping (UAI, FakeProviders) async throws -> Void) async throws {
        let fake = try FakeProviders(port: try FreePort.next())
        let base = "http://127.0.0.1:\(fake.port)"
        try await UAI.run(
            configure: { settings in
                var google = SocialSettings.Google(clientID: "our-google-client", clientSecret: "google-secret")
                google.authorizeURL = base + "/google/auth"
                google.tokenURL = base + "/google/token"
                google.userinfoURL = base + "/google/userinfo"
                google.tokeninfoURL = base + "/google/tokeninfo"
                google.jwksURL = base + "/jwks"
                var facebook = SocialSettings.Facebook(appID: "our-fb-app", appSecret: "fb-secret")
                facebook.graphURL = base + "/graph"
                facebook.dialogURL = base + "/dialog"
                var apple = SocialSettings.Apple(clientIDs: ["com.example.app"])
                apple.jwksURL = base + "/jwks"
                apple.issuer = "https://appleid.apple.com"
                settings.social = SocialSettings(
                    google: google, facebook: facebook, apple: apple, erasmusuUserURL: base + "/erasmusu/me", wggUserURL: base + "/wgg/me")
                settings.social.vault = SocialSettings.Vault(
                    issuer: "https://vault.example.com/tenants/acme", clientID: "user-identity", clientSecret: "vault-secret",
                    jwksURL: base + "/jwks", tokenURL: base + "/vault/token")
            }, alongside: [fake.application], readyURLs: [base + "/"]
        ) { uai in try await body(uai, fake) }
    }

    static func subject(of token: String) throws -> String {
        let payload = try #require(Base64URL.decode(String(token.split(separator: ".")[1])))
        return try #require(try JSONDecoder().decode(JSONValue.self, from: payload)["user_id"]?.stringValue)
    }

    @Test func googleOneTapCreatesThenFindsTheUserAndRefusesBadTokens() async throws {
        try await Self.run { uai, fake in
            let token = fake.idToken(["sub": "g-1", "email": "Ann@Example.com", "email_verified": true, "name": "Ann Example"])
            let first = try await uai.call(.POST, "/oauth/sign-in-google", json: ["credential": .string(token), "login_context": "tenant", "locale": "es"])
            #expect(first.status == 201 && first.json?["accessToken"] != nil && first.json?["refreshToken"] != nil, "\(first.text)")
            let id = try Self.subject(of: try #require(first.json?["accessToken"]?.stringValue))
            let me = try await uai.call(.GET, "/users/me", token: try #require(first.json?["accessToken"]?.stringValue))
            #expect(me.json?["email"] == "ann@example.com" && me.json?["roles"] == ["tenant"] && me.json?["locale"] == "es" && me.json?["fullname"] == "Ann Example")
            #expect(try await uai.count("SELECT count(*)::int FROM domain_events WHERE type_name = 'SocialUserWasRegistered'") == 1)
            let again = try await uai.call(.POST, "/oauth/sign-in-google", json: ["credential": .string(token)])
            #expect(try Self.subject(of: try #require(again.json?["accessToken"]?.stringValue)) == id)
            #expect(try await uai.count("SELECT count(*)::int FROM users") == 1)

            for (bad, why) in [
                (fake.idToken(["sub": "g-1", "aud": "someone-else"]), "another audience"),
                (fake.idToken(["sub": "g-1", "exp": .number(Date().timeIntervalSince1970 - 3_600)]), "expired"),
                (fake.idToken(["sub": "g-1", "iss": "https://evil.example"]), "another issuer"),
                (fake.idToken(["sub": "g-1"], key: try _RSA.Signing.PrivateKey(keySize: .bits2048)), "signed by a key not in the JWKS"),
                (fake.idToken(["sub": "g-1"], alg: "none"), "unsigned"),
                ("not.a.jwt", "garbage"),
            ] {
                let refused = try await uai.call(.POST, "/oauth/sign-in-google", json: ["credential": .string(bad)])
                #expect(refused.status == 401, "\(why): \(refused.text)")
            }
            #expect(try await uai.call(.POST, "/oauth/sign-in-google", json: [:]).status == 422)
            let role = try await uai.call(.POST, "/oauth/sign-in-google", json: ["credential": .string(token), "login_context": "uai_admin"])
            #expect(role.status == 422 && role.json?["validationMessages"]?["login_context"] != nil)
        }
    }

    @Test func aVerifiedEmailLinksTheExistingAccountAndAnUnverifiedOneNever() async throws {
        try await Self.run { uai, fake in
            let existing = try await uai.user("bob@example.com")
            fake.users.withLock { $0["unverified"] = ["sub": "g-2", "email": "bob@example.com", "email_verified": false] }
            let unverified = try await uai.call(.POST, "/oauth/google", json: ["access_token": "unverified"])
            #expect(unverified.status == 409, "\(unverified.text)")
            fake.users.withLock { $0["verified"] = ["sub": "g-3", "email": "bob@example.com", "email_verified": true] }
            let linked = try await uai.call(.POST, "/oauth/google", json: ["access_token": "verified"])
            #expect(linked.status == 201, "\(linked.text)")
            #expect(try Self.subject(of: try #require(linked.json?["accessToken"]?.stringValue)) == existing.uuidString.lowercased())
            #expect(try await uai.count("SELECT count(*)::int FROM social_links WHERE user_id = '\(existing)'") == 1)
            // A token Google issued to another app is refused, whoever it names.
            fake.users.withLock { $0["foreign"] = ["sub": "g-3", "email": "bob@example.com", "email_verified": true] }
            #expect(try await uai.call(.POST, "/oauth/google", json: ["access_token": "foreign"]).status == 401)
            #expect(try await uai.call(.POST, "/oauth/google", json: ["access_token": "unknown-token"]).status == 401)
            // A disabled account gets the seed's error.
            try await uai.database.query("UPDATE users SET is_enabled = false WHERE id = \(existing)")
            let disabled = try await uai.call(.POST, "/oauth/google", json: ["access_token": "verified"])
            #expect(disabled.status == 422 && disabled.json?["validationMessages"]?["email"]?["userIsDisabled"] != nil)
        }
    }

    @Test func facebookAppleErasmusuAndWGGesucht() async throws {
        try await Self.run { uai, fake in
            fake.users.withLock {
                $0["fb"] = ["id": "fb-1", "email": "carol@example.com", "name": "Carol Facebook"]
                $0["fb-other-app"] = ["id": "fb-2", "email": "dan@example.com"]
                $0["erasmus"] = ["id": .number(42), "email": "erin@example.com", "email_verified": true, "first_name": "Erin", "last_name": "Smith"]
                $0["wg"] = ["user": ["id": "wg-7", "email": "wg@example.com", "name": "Wolfgang G"]]
            }
            #expect(try await uai.call(.POST, "/oauth/facebook", json: ["access_token": "fb"]).status == 201)
            #expect(try await uai.call(.POST, "/oauth/facebook", json: ["access_token": "fb-other-app"]).status == 401)
            let apple = fake.idToken(["sub": "apple-1", "email": "frank@privaterelay.appleid.com", "email_verified": "true", "aud": "com.example.app",
                                      "iss": "https://appleid.apple.com"])
            let signedIn = try await uai.call(.POST, "/oauth/apple", json: ["access_token": .string(apple), "full_name": "'Steve Jobs'"])
            #expect(signedIn.status == 200, "\(signedIn.text)")
            let me = try await uai.call(.GET, "/users/me", token: try #require(signedIn.json?["accessToken"]?.stringValue))
            #expect(me.json?["fullname"] == "Steve Jobs")
            #expect(try await uai.call(.POST, "/oauth/apple", json: ["access_token": .string(fake.idToken(["sub": "a", "aud": "com.other"]))]).status == 401)
            let erasmus = try await uai.call(.POST, "/oauth/erasmusu", json: ["access_token": "erasmus"])
            #expect(erasmus.status == 201)
            let erin = try await uai.call(.GET, "/users/me", token: try #require(erasmus.json?["accessToken"]?.stringValue))
            #expect(erin.json?["fullname"] == "Erin Smith")
            #expect(try await uai.call(.POST, "/oauth/wgg", json: ["access_token": "wg"]).status == 201)
            #expect(try await uai.call(.POST, "/oauth/wgg", json: ["access_token": "nobody"]).status == 401)
            #expect(try await uai.count("SELECT count(*)::int FROM social_links") == 4)

            // The provider failing, answering nonsense, or gone.
            fake.mode.withLock { $0 = .failing }
            let outage = try await uai.call(.POST, "/oauth/erasmusu", json: ["access_token": "erasmus"])
            #expect(outage.status == 502 && outage.header("Content-Type") == "application/problem+json")
            fake.mode.withLock { $0 = .garbage }
            #expect(try await uai.call(.POST, "/oauth/wgg", json: ["access_token": "wg"]).status == 502)
        }
    }

    @Test func theCodeFlowNeedsTheStateItWasGiven() async throws {
        try await Self.run { uai, fake in
            let start = try await uai.call(.GET, "/authentications/google?redirect_uri=https://app.example.com/google/check")
            #expect(start.status == 200, "\(start.text)")
            let state = try #require(start.json?["oauth2state"]?.stringValue)
            let url = try #require(start.json?["authorization_url"]?.stringValue)
            #expect(url.hasPrefix("http://127.0.0.1:\(fake.port)/google/auth?") && url.contains("state=\(state)") && url.contains("client_id=our-google-client"))
            #expect(try await uai.call(.GET, "/authentications/google?redirect_uri=https://evil.example/steal").status == 422)

            fake.codes.withLock { $0["code-1"] = fake.idToken(["sub": "g-9", "email": "gina@example.com", "email_verified": true]) }
            let body: JSONValue = ["code": "code-1", "redirect_uri": "https://app.example.com/google/check", "state": .string(state), "login_context": "landlord"]
            let wrongRedirect = try await uai.call(.POST, "/authentications/google", json: [
                "code": "code-1", "redirect_uri": "https://app.example.com/other", "state": .string(state),
            ])
            #expect(wrongRedirect.status == 422 && wrongRedirect.json?["validationMessages"]?["state"] != nil)
            // That spent the state: a state works once.
            #expect(try await uai.call(.POST, "/authentications/google", json: body).status == 422)
            let fresh = try #require(try await uai.call(.GET, "/authentications/google?redirect_uri=https://app.example.com/google/check").json?["oauth2state"]?.stringValue)
            let signedIn = try await uai.call(.POST, "/authentications/google", json: [
                "code": "code-1", "redirect_uri": "https://app.example.com/google/check", "state": .string(fresh), "login_context": "landlord",
            ])
            #expect(signedIn.status == 201, "\(signedIn.text)")
            #expect(try await uai.call(.POST, "/authentications/google", json: ["code": "code-1", "redirect_uri": "https://app.example.com/google/check"]).status == 422)

            let facebook = try await uai.call(.GET, "/authentications/facebook?redirect_uri=https://app.example.com/fb")
            let fbState = try #require(facebook.json?["oauth2state"]?.stringValue)
            fake.users.withLock { $0["fb-from-code"] = ["id": "fb-5", "email": "hal@example.com"] }
            fake.codes.withLock { $0["fb-code"] = "fb-from-code" }
            let fb = try await uai.call(.POST, "/authentications/facebook", json: ["code": "fb-code", "redirect_uri": "https://app.example.com/fb", "state": .string(fbState)])
            #expect(fb.status == 201, "\(fb.text)")
        }
    }

    @Test func theVaultsIDTokenLogsInTheAccountItWasProvisionedFrom() async throws {
        try await Self.run { uai, fake in
            let ann = try await uai.user("ann@example.com")
            func vaultToken(_ claims: [String: JSONValue]) -> String {
                var all: [String: JSONValue] = [
                    "iss": "https://vault.example.com/tenants/acme", "aud": "user-identity", "sub": "vault-user-1", "tenant_id": "acme",
                    "nonce": "n-1",
                ]
                for (name, value) in claims { all[name] = value }
                return fake.idToken(all)
            }
            // external_id names Ann's account: it is hers, whatever the email says.
            let linked = try await uai.call(.POST, "/oauth/vault", json: [
                "id_token": .string(vaultToken(["external_id": .string(ann.uuidString.lowercased()), "email": "other@example.com"])), "nonce": "n-1",
            ])
            #expect(linked.status == 201, "\(linked.text)")
            #expect(try Self.subject(of: try #require(linked.json?["accessToken"]?.stringValue)) == ann.uuidString.lowercased())
            // From then on the vault user is linked, external_id or not.
            let again = try await uai.call(.POST, "/oauth/vault", json: ["id_token": .string(vaultToken([:]))])
            #expect(try Self.subject(of: try #require(again.json?["accessToken"]?.stringValue)) == ann.uuidString.lowercased())

            let wrongNonce = try await uai.call(.POST, "/oauth/vault", json: ["id_token": .string(vaultToken([:])), "nonce": "n-2"])
            #expect(wrongNonce.status == 401 && (wrongNonce.header("WWW-Authenticate") ?? "").contains("nonce"))
            for claims: [String: JSONValue] in [["aud": "another-client"], ["iss": "https://vault.example.com/tenants/other"]] {
                #expect(try await uai.call(.POST, "/oauth/vault", json: ["id_token": .string(vaultToken(claims))]).status == 401)
            }
            // The code flow: the code is exchanged at the vault's token endpoint.
            fake.codes.withLock { $0["vault-code"] = vaultToken(["sub": "vault-user-2", "email": "new@example.com", "email_verified": true]) }
            let viaCode = try await uai.call(.POST, "/oauth/vault", json: [
                "code": "vault-code", "redirect_uri": "https://app.example.com/vault", "code_verifier": "v", "login_context": "tenant",
            ])
            #expect(viaCode.status == 201, "\(viaCode.text)")
            let me = try await uai.call(.GET, "/users/me", token: try #require(viaCode.json?["accessToken"]?.stringValue))
            #expect(me.json?["email"] == "new@example.com")
            #expect(try await uai.call(.POST, "/oauth/vault", json: ["code": "unknown", "redirect_uri": "https://app.example.com/vault"]).status == 401)
            #expect(try await uai.call(.POST, "/oauth/vault", json: ["code": "vault-code"]).status == 422)
        }
    }

    @Test func aProviderThatIsDownIsA503AndOneNotConfiguredIsNotHere() async throws {
        let port = try FreePort.next()
        try await UAI.run(configure: { $0.social = SocialSettings(erasmusuUserURL: "http://127.0.0.1:\(port)/me") }) { uai in
            let down = try await uai.call(.POST, "/oauth/erasmusu", json: ["access_token": "token"])
            #expect(down.status == 503 && down.header("Content-Type") == "application/problem+json")
            let google = try await uai.call(.POST, "/oauth/sign-in-google", json: ["credential": "x.y.z"])
            #expect(google.status == 404 && google.text.contains("UAI_GOOGLE_CLIENT_ID"))
            #expect(try await uai.call(.GET, "/authentications/facebook?redirect_uri=https://app.example.com/fb").status == 404)
            #expect(try await uai.call(.POST, "/oauth/vault", json: ["id_token": "x.y.z"]).status == 404)
            #expect(try await uai.count("SELECT count(*)::int FROM users") == 0)
        }
    }
}

/// Google, Facebook, Apple's keys, Erasmusu and WG-Gesucht, as far as sign-in uses them.
final class FakeProviders: Sendable {
    enum Mode: Sendable { case normal, failing, garbage }
    let port: Int
    let key: _RSA.Signing.PrivateKey
    /// Access token → the user the provider's user endpoint answers.
    let users = Mutex<[String: JSONValue]>([:])
    /// Authorization code → Google's ID token, or Facebook's access token.
    let codes = Mutex<[String: String]>([:])
    let mode = Mutex(Mode.normal)

    init(port: Int) throws {
        self.port = port
        key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
    }

    /// An ID token for Google's client by default, signed by this fake's key.
    func idToken(_ claims: [String: JSONValue], key other: _RSA.Signing.PrivateKey? = nil, alg: String = "RS256") -> String {
        var all: [String: JSONValue] = [
            "iss": "https://accounts.google.com", "aud": "our-google-client", "iat": .number(Date().timeIntervalSince1970.rounded()),
            "exp": .number(Date().timeIntervalSince1970.rounded() + 600),
        ]
        for (name, value) in claims { all[name] = value }
        let header = Base64URL.encode(Array(CanonicalJSON.bytes(["alg": .string(alg), "kid": "fake-1", "typ": "JWT"])))
        let input = header + "." + Base64URL.encode(Array(CanonicalJSON.bytes(.object(all))))
        guard alg == "RS256", let signature = try? (other ?? key).signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5) else {
            return input + "."
        }
        return input + "." + Base64URL.encode(Array(signature.rawRepresentation))
    }

    var application: some Service {
        let router = Router()
        @Sendable func json(_ value: JSONValue, _ status: HTTPResponse.Status = .ok) -> Response {
            Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(value))))
        }
        @Sendable func bearer(_ request: Request) -> String { String((request.headers[.authorization] ?? "").dropFirst("Bearer ".count)) }
        let jwks = (try? JWKS(keys: [JWKS.publicJWK(ofRSA: key, kid: "fake-1")])).flatMap { try? JSONEncoder().encode($0) } ?? Data()
        router.get("/") { _, _ in "providers" }
        router.get("/jwks") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: jwks))) }
        router.get("/google/tokeninfo") { request, _ -> Response in
            let token = request.uri.queryParameters["access_token"].map(String.init) ?? ""
            guard self.users.withLock({ $0[token] }) != nil else { return json(["error": "invalid_token"], .badRequest) }
            return json(["aud": .string(token == "foreign" ? "another-client" : "our-google-client")])
        }
        router.get("/google/userinfo") { request, _ -> Response in
            guard let user = self.users.withLock({ $0[bearer(request)] }) else { return json(["error": "invalid_token"], .unauthorized) }
            return json(user)
        }
        router.post("/google/token") { request, _ -> Response in
            var request = request
            let fields = try Request.parseForm(String(buffer: try await request.collectBody(upTo: 1 << 16)))
            guard fields["client_secret"] == "google-secret", let token = self.codes.withLock({ $0[fields["code"] ?? ""] }) else {
                return json(["error": "invalid_grant"], .badRequest)
            }
            return json(["access_token": "ya29.x", "id_token": .string(token)])
        }
        router.post("/vault/token") { request, _ -> Response in
            var request = request
            let fields = try Request.parseForm(String(buffer: try await request.collectBody(upTo: 1 << 16)))
            guard fields["client_secret"] == "vault-secret", fields["client_id"] == "user-identity",
                let token = self.codes.withLock({ $0[fields["code"] ?? ""] })
            else { return json(["error": "invalid_grant"], .badRequest) }
            return json(["access_token": "at", "token_type": "Bearer", "id_token": .string(token)])
        }
        router.get("/graph/oauth/access_token") { request, _ -> Response in
            guard let token = self.codes.withLock({ $0[request.uri.queryParameters["code"].map(String.init) ?? ""] }) else {
                return json(["error": ["message": "bad code"]], .badRequest)
            }
            return json(["access_token": .string(token)])
        }
        router.get("/graph/debug_token") { request, _ -> Response in
            let token = request.uri.queryParameters["input_token"].map(String.init) ?? ""
            guard request.uri.queryParameters["access_token"] == "our-fb-app|fb-secret", let user = self.users.withLock({ $0[token] }) else {
                return json(["error": ["message": "bad"]], .badRequest)
            }
            return json(["data": ["app_id": .string(token == "fb-other-app" ? "another-app" : "our-fb-app"), "is_valid": true, "user_id": user["id"] ?? .null]])
        }
        router.get("/graph/me") { request, _ -> Response in
            guard let user = self.users.withLock({ $0[bearer(request)] }) else { return json(["error": ["message": "bad"]], .unauthorized) }
            return json(user)
        }
        for path in ["/erasmusu/me", "/wgg/me"] {
            router.get(RouterPath(path)) { request, _ -> Response in
                switch self.mode.withLock({ $0 }) {
                case .failing: return Response(status: .internalServerError)
                case .garbage: return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "<html>")))
                case .normal: break
                }
                guard let user = self.users.withLock({ $0[bearer(request)] }) else { return json(["error": "unauthorized"], .unauthorized) }
                return json(user)
            }
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
    }
}
