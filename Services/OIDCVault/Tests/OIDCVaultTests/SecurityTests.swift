import Foundation
import PostgresNIO
import SuiteCore
import SuiteSigning
import SuiteTesting
import Testing
import VaultZKP

@testable import OIDCVault

/// The defects found by trying the vault as an attacker, a relying party and a client
/// developer would: each test fails on the code before its fix.
@Suite struct SecurityTests {
    let photo = TestImages.scene(seed: 42)

    /// /authorize → image login → the code at the redirect URI (not yet redeemed).
    func code(_ vault: VaultFixture, _ client: VaultFixture.TestClient, username: String, flow: VaultFixture.Flow) async throws -> String {
        let authReqID = try await vault.authorize(client, flow: flow)
        let body = try await vault.answer(tenant: client.tenant, username: username, image: photo, authReqID: authReqID, client: client.id)
        let authenticated = try await vault.authenticate(tenant: client.tenant, body: body, authReqID: authReqID)
        let nonce = try #require(authenticated.json?["nonce"]?.stringValue)
        let redirect = try await vault.service.fetchWithoutRedirect(vault.base + "/authorize/continue?auth_req_id=\(authReqID)&nonce=\(nonce)")
        let items = URLComponents(string: try #require(redirect.header("Location")))?.queryItems ?? []
        return try #require(items.first { $0.name == "code" }?.value)
    }

    /// Tenant acme, its confidential client `web`, and alice enrolled and logged in at it
    /// through the code flow.
    func aliceLoggedIn(_ vault: VaultFixture) async throws -> (VaultFixture.TestClient, JSONValue) {
        try await vault.tenant("acme")
        let web = try await vault.client("web", tenant: "acme")
        #expect(try await vault.register(tenant: "acme", username: "alice", email: "alice@example.com", image: photo).status == 201)
        return (web, try await vault.codeFlow(web, username: "alice", image: photo))
    }

    func redeem(_ vault: VaultFixture, _ client: VaultFixture.TestClient, code: String, flow: VaultFixture.Flow) async throws -> TestResponse {
        try await vault.form("/tenants/\(client.tenant)/oauth2/token", [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", client.redirect), ("code_verifier", flow.verifier),
        ], basic: (client.id, client.secret!))
    }

    func userinfo(_ vault: VaultFixture, tenant: String, _ token: String) async throws -> Int {
        try await vault.call(.GET, "/tenants/\(tenant)/userinfo", as: .bearer(token)).status
    }

    func introspect(_ vault: VaultFixture, _ client: VaultFixture.TestClient, _ token: String) async throws -> TestResponse {
        try await vault.form("/tenants/\(client.tenant)/introspect", [("token", token)], basic: (client.id, client.secret!))
    }

    @Test func anAPIKeyGrantsOnlyScopesItHoldsAndOnlyInItsTenant() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            try await vault.tenant("other")
            let made = try await vault.call(.POST, "/admin/api-keys", json: ["name": "keys", "tenant_id": "acme", "scopes": ["api-keys:admin"]])
            #expect(made.status == 201, "\(made.text)")
            let keyAdmin = try #require(made.json?["api_key"]?.stringValue)

            // More than it holds: refused, and nothing was made.
            let escalation = try await vault.call(
                .POST, "/admin/api-keys", json: ["name": "boss", "tenant_id": "acme", "scopes": ["tenants:write", "users:write", "clients:write"]],
                as: .key(keyAdmin))
            #expect(escalation.status == 403, "\(escalation.text)")
            // Another tenant: refused.
            let elsewhere = try await vault.call(
                .POST, "/admin/api-keys", json: ["name": "x", "tenant_id": "other", "scopes": ["api-keys:admin"]], as: .key(keyAdmin))
            #expect(elsewhere.status == 403)
            // What it holds, in its own tenant: fine.
            #expect(try await vault.call(
                .POST, "/admin/api-keys", json: ["name": "peer", "tenant_id": "acme", "scopes": ["api-keys:admin"]], as: .key(keyAdmin)).status == 201)

            // Regenerating a stronger key would hand its scopes over: refused.
            let strong = try await vault.call(.POST, "/admin/api-keys", json: ["name": "strong", "tenant_id": "acme", "scopes": ["tenants:write"]])
            let strongID = try #require(strong.json?["key_id"]?.stringValue)
            #expect(try await vault.call(.POST, "/admin/api-keys/\(strongID)/regenerate", as: .key(keyAdmin)).status == 403)
            let keys = try await vault.call(.GET, "/admin/api-keys?tenant_id=acme")
            #expect(keys.json?["api_keys"]?.arrayValue?.count == 3)
            // The operator regenerates it, and the scopes stay.
            let regenerated = try await vault.call(.POST, "/admin/api-keys/\(strongID)/regenerate")
            #expect(regenerated.status == 200)
            #expect(regenerated.json?["scopes"] == ["tenants:write"])
        }
    }

    @Test func eachTenantsDiscoveryNamesIntrospectionAndRevocationThatWorkForItsClients() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let web = try await vault.client("web", tenant: "acme")
            #expect(try await vault.register(tenant: "acme", username: "alice", email: "alice@example.com", image: photo).status == 201)
            let discovery = try await vault.call(.GET, "/tenants/acme/.well-known/openid-configuration", as: .nobody)
            let issuer = vault.base + "/tenants/acme"
            #expect(discovery.json?["issuer"] == .string(issuer))
            #expect(discovery.json?["introspection_endpoint"] == .string(issuer + "/introspect"))
            #expect(discovery.json?["revocation_endpoint"] == .string(issuer + "/revoke"))
            #expect(discovery.json?["userinfo_endpoint"] == .string(issuer + "/userinfo"))

            let tokens = try await vault.codeFlow(web, username: "alice", image: photo)
            let access = try #require(tokens["access_token"]?.stringValue)
            let refresh = try #require(tokens["refresh_token"]?.stringValue)
            // Called as RFC 7662 says: the client's credentials and the token, nothing more.
            let active = try await introspect(vault, web, access)
            #expect(active.status == 200 && active.json?["active"] == true, "\(active.text)")
            #expect(try await introspect(vault, web, "garbage").json == ["active": false])
            #expect(try await introspect(vault, web, "a.b.c").json == ["active": false])
            // RFC 7009: unknown tokens are revoked as happily as known ones.
            let garbage = try await vault.form("/tenants/acme/revoke", [("token", "garbage")], basic: (web.id, web.secret!))
            #expect(garbage.status == 200)
            let revoked = try await vault.form("/tenants/acme/revoke", [("token", refresh)], basic: (web.id, web.secret!))
            #expect(revoked.status == 200)
            #expect(try await introspect(vault, web, refresh).json == ["active": false])
            // The root endpoint keeps working as it did: it finds the tenant in the token.
            #expect(try await vault.form("/introspect", [("token", access)], basic: (web.id, web.secret!)).json?["active"] == true)
        }
    }

    @Test func aReusedCodeOrRefreshTokenKillsTheAccessTokensItGave() async throws {
        try await VaultFixture.run(configure: { $0.refreshReuseGrace = 0 }) { vault in
            try await vault.tenant("acme")
            let web = try await vault.client("web", tenant: "acme")
            #expect(try await vault.register(tenant: "acme", username: "alice", email: "alice@example.com", image: photo).status == 201)

            let flow = VaultFixture.Flow()
            let code = try await code(vault, web, username: "alice", flow: flow)
            let first = try await redeem(vault, web, code: code, flow: flow)
            let access = try #require(first.json?["access_token"]?.stringValue)
            #expect(try await userinfo(vault, tenant: "acme", access) == 200)
            let second = try await redeem(vault, web, code: code, flow: flow)
            #expect(second.status == 400 && second.json?["error"] == "invalid_grant")
            #expect(try await userinfo(vault, tenant: "acme", access) == 401)
            #expect(try await introspect(vault, web, access).json == ["active": false])

            // A refresh token used twice: every access token of its family dies too.
            let tokens = try await vault.codeFlow(web, username: "alice", image: photo)
            let refresh = try #require(tokens["refresh_token"]?.stringValue)
            let rotated = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "refresh_token"), ("refresh_token", refresh)], basic: (web.id, web.secret!))
            let newAccess = try #require(rotated.json?["access_token"]?.stringValue)
            let oldAccess = try #require(tokens["access_token"]?.stringValue)
            #expect(try await userinfo(vault, tenant: "acme", newAccess) == 200)
            try await Task.sleep(for: .milliseconds(1100))
            let reuse = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "refresh_token"), ("refresh_token", refresh)], basic: (web.id, web.secret!))
            #expect(reuse.status == 400)
            #expect(try await userinfo(vault, tenant: "acme", newAccess) == 401)
            #expect(try await userinfo(vault, tenant: "acme", oldAccess) == 401)
            #expect(try await introspect(vault, web, newAccess).json == ["active": false])
        }
    }

    @Test func accessTokensAreCheckedForAudienceTimesTypeAndIssuer() async throws {
        try await VaultFixture.run { vault in
            let (_, tokens) = try await aliceLoggedIn(vault)
            let access = try #require(tokens["access_token"]?.stringValue)
            #expect(try await userinfo(vault, tenant: "acme", access) == 200)
            // Another tenant's userinfo (and the root's, which is the default tenant's).
            try await vault.tenant("other")
            #expect(try await userinfo(vault, tenant: "other", access) == 401)
            #expect(try await vault.call(.GET, "/userinfo", as: .bearer(access)).status == 401)

            // Re-signed with the vault's own key, one claim wrong at a time.
            let keys = KeyRing(database: vault.database, logger: .init(label: "t"), atRestKey: vault.settings.atRestKey, imported: [])
            let claims = try #require(VaultFixture.claims(access)?.objectValue)
            let now = Int(Date().timeIntervalSince1970)
            func forged(_ change: (inout [String: JSONValue]) -> Void, type: String = "at+jwt") async throws -> String {
                var copy = claims
                copy["jti"] = .string(SecureRandom.string(count: 12))
                change(&copy)
                return try await keys.sign(.object(copy), algorithm: .eddsa, type: type)
            }
            // The control: an honest re-signing works, so what fails below fails for its claim.
            #expect(try await userinfo(vault, tenant: "acme", try await forged { _ in }) == 200)
            #expect(try await userinfo(vault, tenant: "acme", try await forged { $0["aud"] = "someone-else" }) == 401)
            #expect(try await userinfo(vault, tenant: "acme", try await forged { $0["aud"] = nil }) == 401)
            #expect(try await userinfo(vault, tenant: "acme", try await forged { $0["nbf"] = .number(Double(now + 3600)) }) == 401)
            #expect(try await userinfo(vault, tenant: "acme", try await forged { $0["iat"] = .number(Double(now + 3600)) }) == 401)
            #expect(try await userinfo(vault, tenant: "acme", try await forged({ _ in }, type: "JWT")) == 401)
            #expect(try await userinfo(vault, tenant: "acme", try await forged { $0["iss"] = .string(vault.base + "/tenants/other") }) == 401)
        }
    }

    @Test func aRefusedLogoutLogsNobodyOut() async throws {
        try await VaultFixture.run { vault in
            let (_, tokens) = try await aliceLoggedIn(vault)
            let idToken = try #require(tokens["id_token"]?.stringValue)
            let access = try #require(tokens["access_token"]?.stringValue)
            let refused = try await vault.service.fetchWithoutRedirect(
                vault.base + "/logout?id_token_hint=\(idToken)&post_logout_redirect_uri=" + VaultFixture.formEscape("https://evil.example.net/"))
            #expect(refused.status == 400)
            #expect(try await userinfo(vault, tenant: "acme", access) == 200)
            let done = try await vault.service.fetchWithoutRedirect(
                vault.base + "/logout?id_token_hint=\(idToken)&post_logout_redirect_uri=" + VaultFixture.formEscape("https://rp.example.com/bye"))
            #expect(done.status == 302)
            #expect(try await userinfo(vault, tenant: "acme", access) == 401)
        }
    }

    @Test func attemptsAnIPBlockRefusesDoNotLockTheUserOut() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme", ["block_config": [
                "ip_attempts_limit": 2, "ip_attempts_reset_minutes": 60, "user_attempts_limit": 3, "user_timeframe_seconds": 300,
                "initial_block_seconds": 60, "max_block_time_minutes": 10,
            ]])
            #expect(try await vault.register(tenant: "acme", username: "alice", email: "alice@example.com", image: photo).status == 201)
            let attacker = [("X-Forwarded-For", "203.0.113.9")]
            for _ in 0..<2 {
                let body = try await vault.answer(tenant: "acme", username: "alice", image: TestImages.scene(seed: 7))
                #expect(try await vault.authenticate(tenant: "acme", body: body, headers: attacker).status == 401)
            }
            // The attacker's address is blocked now; what it keeps sending is refused unseen.
            for _ in 0..<5 {
                let body = try await vault.answer(tenant: "acme", username: "alice", image: TestImages.scene(seed: 7))
                let refused = try await vault.authenticate(tenant: "acme", body: body, headers: attacker)
                #expect(refused.status == 429)
                #expect((55...60).contains(refused.header("Retry-After").flatMap(Int.init) ?? 0))
            }
            // Alice, from her own address, is not locked out by it.
            #expect(try await vault.call(.GET, "/tenants/acme/blocked-users").json?["total_count"] == 0)
            let mine = try await vault.answer(tenant: "acme", username: "alice", image: photo)
            let ok = try await vault.authenticate(tenant: "acme", body: mine, headers: [("X-Forwarded-For", "198.51.100.7")])
            #expect(ok.status == 200, "\(ok.text)")
        }
    }

    @Test func aLoginThatNeedsVerifyGetsNoCodeUntilItsStepUpSucceeds() async throws {
        try await VaultFixture.run(configure: { $0.bcryptCost = 4 }) { vault in
            try await vault.tenant("acme", ["pin_size": 4])
            let web = try await vault.client("web", tenant: "acme")
            #expect(try await vault.register(tenant: "acme", username: "alice", email: "alice@example.com", image: photo).status == 201)
            let tokens = try await vault.codeFlow(web, username: "alice", image: photo)
            let access = try #require(tokens["access_token"]?.stringValue)
            #expect(try await vault.call(.PUT, "/auth/step-up", json: ["pin": "12"], as: .bearer(access)).status == 422)
            #expect(try await vault.call(.PUT, "/auth/step-up", json: ["pin": "1234"], as: .nobody).status == 401)
            let enrolled = try await vault.call(.PUT, "/auth/step-up", json: ["pin": "4321", "pattern": [0, 4, 8]], as: .bearer(access))
            #expect(enrolled.status == 200 && enrolled.json == ["pin": true, "pattern": true], "\(enrolled.text)")

            // A risky login: the client reports a high bit error rate.
            let authReqID = try await vault.authorize(web, flow: VaultFixture.Flow())
            var body = try await vault.answer(tenant: "acme", username: "alice", image: photo, authReqID: authReqID, client: web.id)
            body["ber"] = ["ber": ["count_bits": 255, "error_bits": 60, "BER_PERCENT": "23.53"]]
            let authenticated = try await vault.authenticate(tenant: "acme", body: body, authReqID: authReqID)
            #expect(authenticated.json?["need_verify"] == true)
            let nonce = try #require(authenticated.json?["nonce"]?.stringValue)
            let early = try await vault.service.fetchWithoutRedirect(vault.base + "/authorize/continue?auth_req_id=\(authReqID)&nonce=\(nonce)")
            #expect(early.status == 403, "\(early.text)")
            #expect(early.header("Location") == nil)

            let wrong = try await vault.call(
                .POST, "/auth/step-up?auth_req_id=\(authReqID)", json: ["nonce": .string(nonce), "method": "PIN", "pin": "0000"], as: .nobody)
            #expect(wrong.status == 401)
            let wrongNonce = try await vault.call(
                .POST, "/auth/step-up?auth_req_id=\(authReqID)", json: ["nonce": "nope", "method": "PIN", "pin": "4321"], as: .nobody)
            #expect(wrongNonce.status == 400)
            #expect(try await vault.service.fetchWithoutRedirect(vault.base + "/authorize/continue?auth_req_id=\(authReqID)&nonce=\(nonce)").status == 403)
            let right = try await vault.call(
                .POST, "/auth/step-up?auth_req_id=\(authReqID)", json: ["nonce": .string(nonce), "method": "PATTERN", "pattern": [0, 4, 8]], as: .nobody)
            #expect(right.status == 200 && right.json?["need_verify"] == false, "\(right.text)")
            let done = try await vault.service.fetchWithoutRedirect(vault.base + "/authorize/continue?auth_req_id=\(authReqID)&nonce=\(nonce)")
            #expect(done.status == 302)
            #expect(done.header("Location")?.contains("code=") == true)
        }
    }

    @Test func theTokenEndpointHoldsClientsToTheirAuthMethod() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let made = try await vault.call(.POST, "/clients", json: [
                "client_id": "strict", "name": "Strict", "tenant_id": "acme", "redirect_uris": ["https://rp.example.com/callback"],
                "allowed_scopes": ["api"], "client_type": "confidential", "token_endpoint_auth_method": "client_secret_basic",
            ])
            #expect(made.status == 200, "\(made.text)")
            let secret = try #require(made.json?["client_secret"]?.stringValue)
            let posted = try await vault.form("/tenants/acme/oauth2/token", [
                ("grant_type", "client_credentials"), ("client_id", "strict"), ("client_secret", secret),
            ])
            #expect(posted.status == 401 && posted.json?["error"] == "invalid_client")
            let basic = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "client_credentials")], basic: ("strict", secret))
            #expect(basic.status == 200)
            let wrong = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "client_credentials")], basic: ("strict", "nope"))
            #expect(wrong.status == 401)
            #expect(wrong.header("WWW-Authenticate")?.hasPrefix("Basic") == true)

            // RFC 8693 §2.2.2: an invalid subject_token is an invalid_request.
            let exchange = try await vault.form("/tenants/acme/oauth2/token", [
                ("grant_type", TokenRoutes.tokenExchange), ("subject_token", "not-a-token"),
                ("subject_token_type", TokenRoutes.accessTokenType),
            ], basic: ("strict", secret))
            #expect(exchange.status == 400 && exchange.json?["error"] == "invalid_request", "\(exchange.text)")
        }
    }

    @Test func theRootDiscoveryIsItsOwnIssuerAndItsTokensSayIt() async throws {
        try await VaultFixture.run { vault in
            let root = try await vault.call(.GET, "/.well-known/openid-configuration", as: .nobody)
            #expect(root.json?["issuer"] == .string(vault.base))
            #expect(root.json?["token_endpoint"] == .string(vault.base + "/token"))
            #expect(root.json?["jwks_uri"] == .string(vault.base + "/.well-known/jwks.json"))
            let tenant = try await vault.call(.GET, "/tenants/default/.well-known/openid-configuration", as: .nobody)
            #expect(tenant.json?["issuer"] == .string(vault.base + "/tenants/default"))

            let api = try await vault.client("api", tenant: "default")
            let atRoot = try await vault.form("/token", [("grant_type", "client_credentials"), ("scope", "api")], basic: ("api", api.secret!))
            #expect(atRoot.status == 200, "\(atRoot.text)")
            let token = try #require(atRoot.json?["access_token"]?.stringValue)
            #expect(VaultFixture.claims(token)?["iss"] == .string(vault.base))
            let underTenant = try await vault.form("/tenants/default/oauth2/token", [("grant_type", "client_credentials")], basic: ("api", api.secret!))
            let tenantToken = try #require(underTenant.json?["access_token"]?.stringValue)
            #expect(VaultFixture.claims(tenantToken)?["iss"] == .string(vault.base + "/tenants/default"))
            // Both are the default tenant's: its introspection knows them.
            #expect(try await vault.form("/introspect", [("token", token)], basic: ("api", api.secret!)).json?["active"] == true)
            #expect(try await vault.form("/introspect", [("token", tenantToken)], basic: ("api", api.secret!)).json?["active"] == true)
        }
    }
}
