import _CryptoExtras
import Crypto
import Foundation
import SuiteCore
import SuiteSigning
import SuiteTesting
import Synchronization
import Testing
import VaultZKP

@testable import OIDCVault

@Suite struct CodeFlowTests {
    let photo = TestImages.scene(seed: 42)

    /// Verifies a JWT against the tenant's JWKS as a relying party would.
    func verify(_ token: String, vault: VaultFixture, tenant: String) async throws -> JSONValue {
        let jwks = try await vault.call(.GET, "/tenants/\(tenant)/.well-known/jwks.json", as: .nobody).json
        let header = try #require(VaultFixture.header(token))
        let key = try #require(jwks?["keys"]?.arrayValue?.first { $0["kid"] == header["kid"] })
        let parts = token.split(separator: ".")
        let input = Array((parts[0] + "." + parts[1]).utf8)
        let signature = try #require(Base64URL.decode(parts[2]))
        switch header["alg"]?.stringValue {
        case "EdDSA":
            let publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: Base64URL.decode(key["x"]!.stringValue!)!)
            #expect(publicKey.isValidSignature(signature, for: input))
        case "RS256":
            let publicKey = try _RSA.Signing.PublicKey(
                n: Base64URL.decode(key["n"]!.stringValue!)!, e: Base64URL.decode(key["e"]!.stringValue!)!)
            #expect(publicKey.isValidSignature(.init(rawRepresentation: signature), for: input, padding: .insecurePKCS1v1_5))
        default:
            Issue.record("unexpected alg \(String(describing: header["alg"]))")
        }
        return try #require(VaultFixture.claims(token))
    }

    @Test func aRelyingPartyRunsTheWholeCodeFlowWithPKCE() async throws {
        // Live: the session records the caller's address, which only a socket has.
        try await VaultFixture.run(.live) { vault in
            try await vault.tenant("acme")
            let spa = try await vault.client("spa", tenant: "acme", type: "public")
            #expect(spa.secret == nil)
            // Sign-up happens inside an authorization request, from the login page.
            let flow = VaultFixture.Flow()
            let signup = try await vault.authorize(spa, flow: flow)
            let registered = try await vault.register(tenant: "acme", username: "alice", email: "Alice@Example.com", image: photo, authReqID: signup)
            #expect(registered.status == 201, "\(registered.text)")
            #expect(registered.text == "null")

            let tokens = try await vault.codeFlow(spa, username: "alice", image: TestImages.noisy(photo, sigma: 8), flow: flow)
            #expect(tokens["token_type"] == "Bearer")
            let access = try #require(tokens["access_token"]?.stringValue)
            let idToken = try #require(tokens["id_token"]?.stringValue)
            let refresh = try #require(tokens["refresh_token"]?.stringValue)

            let claims = try await verify(idToken, vault: vault, tenant: "acme")
            #expect(claims["iss"]?.stringValue == vault.base + "/tenants/acme")
            #expect(claims["aud"] == "spa")
            #expect(claims["nonce"]?.stringValue == flow.nonce)
            #expect(claims["auth_time"]?.intValue != nil)
            #expect(claims["sid"]?.stringValue != nil)
            #expect(claims["preferred_username"] == "alice")
            #expect(claims["email"] == "alice@example.com")
            let digest = Array(SHA512.hash(data: Array(access.utf8)))
            #expect(claims["at_hash"]?.stringValue == Base64URL.encode(digest.prefix(32)))
            #expect(VaultFixture.header(access)?["typ"] == "at+jwt")

            let userinfo = try await vault.call(.GET, "/tenants/acme/userinfo", as: .bearer(access))
            #expect(userinfo.status == 200)
            #expect(userinfo.json?["sub"] == claims["sub"])
            #expect(userinfo.json?["email"] == "alice@example.com")
            #expect(userinfo.json?["preferred_username"] == "alice")

            // Refresh rotates: a new refresh token, the old one spent.
            let refreshed = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "spa")])
            #expect(refreshed.status == 200, "\(refreshed.text)")
            let next = try #require(refreshed.json?["refresh_token"]?.stringValue)
            #expect(next != refresh)
            let refreshedID = try await verify(try #require(refreshed.json?["id_token"]?.stringValue), vault: vault, tenant: "acme")
            #expect(refreshedID["sid"] == claims["sid"])

            // The user's sessions show where they logged in.
            let sessions = try await vault.call(.GET, "/sessions", as: .bearer(access))
            #expect(sessions.json?["total"] == 1)
            #expect(sessions.json?["sessions"]?.arrayValue?.first?["created"]?["ip"] == "127.0.0.1")

            // RP-initiated logout ends the session: back to the registered URI with the state.
            let logout = try await vault.service.fetchWithoutRedirect(
                vault.base + "/logout?id_token_hint=\(idToken)&post_logout_redirect_uri=\(VaultFixture.formEscape("https://rp.example.com/bye"))&state=s1&client_id=spa")
            #expect(logout.status == 302)
            #expect(logout.header("Location") == "https://rp.example.com/bye?state=s1")
            let after = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "refresh_token"), ("refresh_token", next), ("client_id", "spa")])
            #expect(after.status == 400)
            #expect(after.json?["error"] == "invalid_grant")
            #expect(try await vault.call(.GET, "/tenants/acme/userinfo", as: .bearer(access)).status == 401)
            // An unregistered place to go after logout is refused.
            let evil = try await vault.service.fetchWithoutRedirect(vault.base + "/logout?id_token_hint=\(idToken)&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F")
            #expect(evil.status == 400)
        }
    }

    @Test func aConfidentialRS256ClientGetsRS256TokensAndCodesWorkOnce() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let web = try await vault.client("web", tenant: "acme", algorithm: "RS256")
            #expect(try #require(web.secret).count >= 40)
            let pre = try await vault.call(.POST, "/tenants/acme/users", json: [
                "user_id": "u-bob", "username": "bob", "email": "bob@example.com", "tenant_id": "acme", "roles": ["staff"],
            ])
            #expect(pre.status == 201)
            // A user an admin made enrols under the same name and email.
            #expect(try await vault.register(tenant: "acme", username: "bob", email: "bob@example.com", image: photo).status == 201)
            #expect(try await vault.register(tenant: "acme", username: "bob", email: "bob@example.com", image: photo).status == 409)

            let flow = VaultFixture.Flow()
            let authReqID = try await vault.authorize(web, flow: flow)
            let body = try await vault.answer(tenant: "acme", username: "bob", image: photo, authReqID: authReqID, client: "web")
            let nonce = try #require(try await vault.authenticate(tenant: "acme", body: body, authReqID: authReqID).json?["nonce"]?.stringValue)
            let redirect = try await vault.service.fetchWithoutRedirect(vault.base + "/authorize/continue?auth_req_id=\(authReqID)&nonce=\(nonce)")
            let location = try #require(redirect.header("Location"))
            #expect(location.hasPrefix("https://rp.example.com/callback?"))
            #expect(location.contains("iss=" + VaultFixture.formEscape(vault.base + "/tenants/acme")) || location.contains("iss=http"))
            // The login nonce is single use.
            #expect(try await vault.service.fetchWithoutRedirect(vault.base + "/authorize/continue?auth_req_id=\(authReqID)&nonce=\(nonce)").status == 400)
            let code = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "code" }?.value)

            // Wrong verifier, then wrong redirect: refused (the code is spent by the first try).
            let wrong = try await vault.form(
                "/tenants/acme/oauth2/token",
                [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", web.redirect), ("code_verifier", String(repeating: "a", count: 43))],
                basic: (web.id, web.secret!))
            #expect(wrong.status == 400)
            #expect(wrong.json?["error"] == "invalid_grant")
            let again = try await vault.form(
                "/tenants/acme/oauth2/token",
                [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", web.redirect), ("code_verifier", flow.verifier)],
                basic: (web.id, web.secret!))
            #expect(again.status == 400)

            // A fresh flow through client_secret_basic: RS256 ID token.
            let tokens = try await vault.codeFlow(web, username: "bob", image: photo)
            let idToken = try #require(tokens["id_token"]?.stringValue)
            #expect(VaultFixture.header(idToken)?["alg"] == "RS256")
            let claims = try await verify(idToken, vault: vault, tenant: "acme")
            #expect(claims["sub"] == "u-bob")
            let access = try #require(tokens["access_token"]?.stringValue)
            let digest = Array(SHA256.hash(data: Array(access.utf8)))
            #expect(claims["at_hash"]?.stringValue == Base64URL.encode(digest.prefix(16)))
        }
    }

    @Test func authorizeRefusesWhatRFC6749Refuses() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let spa = try await vault.client("spa", tenant: "acme", type: "public")
            func get(_ query: String) async throws -> TestResponse {
                try await vault.service.fetchWithoutRedirect(vault.base + "/tenants/acme/authorize?" + query)
            }
            let redirect = VaultFixture.formEscape(spa.redirect)
            // Not trusted: shown, never redirected.
            #expect(try await get("response_type=code&client_id=nobody&redirect_uri=\(redirect)").status == 400)
            let foreign = try await get("response_type=code&client_id=spa&redirect_uri=https%3A%2F%2Fevil.example%2Fcb")
            #expect(foreign.status == 400)
            #expect(foreign.header("Location") == nil)
            // Trusted: the error goes back to the client with the state.
            let noPKCE = try await get("response_type=code&client_id=spa&redirect_uri=\(redirect)&state=x1&scope=openid")
            #expect(noPKCE.status == 302)
            #expect(noPKCE.header("Location")?.contains("error=invalid_request") == true)
            #expect(noPKCE.header("Location")?.contains("state=x1") == true)
            let challenge = Base64URL.encode(Array(SHA256.hash(data: Array("v".utf8))))
            let plain = try await get("response_type=code&client_id=spa&redirect_uri=\(redirect)&code_challenge=\(challenge)&code_challenge_method=plain")
            #expect(plain.header("Location")?.contains("error=invalid_request") == true)
            let scope = try await get("response_type=code&client_id=spa&redirect_uri=\(redirect)&code_challenge=\(challenge)&code_challenge_method=S256&scope=openid%20admin")
            #expect(scope.header("Location")?.contains("error=invalid_scope") == true)
            // Form encoding, as OAuth libraries write it: `+` is a space.
            let plus = try await get("response_type=code&client_id=spa&redirect_uri=\(redirect)&code_challenge=\(challenge)&code_challenge_method=S256&scope=openid+profile")
            #expect(plus.header("Location")?.hasPrefix("https://login.example.com/") == true)
            let implicit = try await get("response_type=token&client_id=spa&redirect_uri=\(redirect)&code_challenge=\(challenge)&code_challenge_method=S256")
            #expect(implicit.header("Location")?.contains("error=unsupported_response_type") == true)
        }
    }

    @Test func aReusedRefreshTokenRevokesItsFamilyAfterTheGrace() async throws {
        try await VaultFixture.run(configure: { $0.refreshReuseGrace = 0 }) { vault in
            try await vault.tenant("acme")
            let spa = try await vault.client("spa", tenant: "acme", type: "public")
            #expect(try await vault.register(tenant: "acme", username: "carol", email: "carol@example.com", image: photo).status == 201)
            let tokens = try await vault.codeFlow(spa, username: "carol", image: photo)
            let first = try #require(tokens["refresh_token"]?.stringValue)
            @Sendable func refreshing(_ token: String) async throws -> TestResponse {
                try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", "spa")])
            }
            let second = try #require(try await refreshing(first).json?["refresh_token"]?.stringValue)
            try await Task.sleep(for: .milliseconds(1100))
            // The spent token comes back: a thief or a bug. The family dies, the newest too.
            #expect(try await refreshing(first).status == 400)
            #expect(try await refreshing(second).json?["error"] == "invalid_grant")
        }
    }

    @Test func twoTabsRefreshingAtOnceBothGetTheSameSuccessor() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let spa = try await vault.client("spa", tenant: "acme", type: "public")
            #expect(try await vault.register(tenant: "acme", username: "dan", email: "dan@example.com", image: photo).status == 201)
            let refresh = try #require(try await vault.codeFlow(spa, username: "dan", image: photo)["refresh_token"]?.stringValue)
            let answers = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "spa")])
                            .json?["refresh_token"]?.stringValue
                    }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0 != nil })
            #expect(Set(answers.compactMap { $0 }).count == 1)
        }
    }

    struct Kept: Sendable {
        let secret: String
        let alive: String
        let revoked: String
        let loggedOut: String
        let sessionEnded: String
        let jwks: String
    }

    @Test func aRestartLosesNothingAndRevivesNothing() async throws {
        let database = try await TestPostgres.shared.makeDatabase(schema: "vault")
        let atRest = SymmetricKey(size: .bits256)
        let photo = self.photo
        let kept = Mutex<Kept?>(nil)
        try await VaultFixture.run(database: database, configure: { $0.atRestKey = atRest }) { vault in
            try await vault.tenant("acme")
            let web = try await vault.client("web", tenant: "acme")
            #expect(try await vault.register(tenant: "acme", username: "alice", email: "alice@example.com", image: photo).status == 201)
            var flows: [JSONValue] = []
            for _ in 0..<4 { flows.append(try await vault.codeFlow(web, username: "alice", image: photo)) }
            let refresh = flows.map { $0["refresh_token"]?.stringValue ?? "" }
            // One revoked by the client, one session ended by the user, one by RP-initiated logout (form).
            #expect(try await vault.form("/revoke", [("token", refresh[1]), ("tenant_id", "acme")], basic: ("web", web.secret!)).status == 200)
            let access = try #require(flows[0]["access_token"]?.stringValue)
            #expect(try await vault.call(.GET, "/sessions", as: .bearer(access)).json?["total"] == 4)
            let thirdID = try #require(flows[2]["id_token"]?.stringValue)
            let sid = try #require(VaultFixture.claims(thirdID)?["sid"]?.stringValue)
            #expect(try await vault.call(.DELETE, "/sessions/\(sid)", as: .bearer(access)).status == 204)
            #expect(try await vault.call(.DELETE, "/sessions/\(sid)", as: .bearer(access)).status == 404)
            let fourthID = try #require(flows[3]["id_token"]?.stringValue)
            let logout = try await vault.form("/logout", [("id_token_hint", fourthID), ("state", "z")])
            #expect(logout.status == 200)
            #expect(logout.text == "null")
            let jwks = try await vault.call(.GET, "/tenants/acme/.well-known/jwks.json", as: .nobody).text
            kept.withLock {
                $0 = Kept(secret: web.secret!, alive: refresh[0], revoked: refresh[1], loggedOut: refresh[3], sessionEnded: refresh[2], jwks: jwks)
            }
        }
        let saved = try #require(kept.withLock { $0 })
        try await VaultFixture.run(database: database, configure: { $0.atRestKey = atRest }) { vault in
            #expect(try await vault.call(.GET, "/tenants/acme/.well-known/jwks.json", as: .nobody).text == saved.jwks)
            @Sendable func refreshing(_ token: String) async throws -> TestResponse {
                try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "refresh_token"), ("refresh_token", token)], basic: ("web", saved.secret))
            }
            let alive = try await refreshing(saved.alive)
            #expect(alive.status == 200)
            for dead in [saved.revoked, saved.sessionEnded, saved.loggedOut] {
                let answer = try await refreshing(dead)
                #expect(answer.json?["error"] == "invalid_grant")
            }
        }
    }
}
