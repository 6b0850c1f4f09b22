import Foundation
import SuiteCore
import SuiteSigning
import SuiteTesting
import Testing
import VaultZKP

@testable import OIDCVault

@Suite struct TokenEndpointTests {
    @Test func clientCredentialsWithBasicOrPostAndEveryWayToGetItWrong() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let api = try await vault.client("api", tenant: "acme")
            let secret = try #require(api.secret)
            let basic = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "client_credentials"), ("scope", "api")], basic: ("api", secret))
            #expect(basic.status == 200, "\(basic.text)")
            #expect(basic.header("Cache-Control") == "no-store")
            #expect(basic.json?["scope"] == "api")
            #expect(basic.json?["refresh_token"] == nil)
            let issued = try #require(basic.json?["access_token"]?.stringValue)
            let claims = try #require(VaultFixture.claims(issued))
            #expect(claims["sub"] == "api")
            #expect(claims["client_id"] == "api")
            #expect(claims["iss"]?.stringValue == vault.base + "/tenants/acme")

            // The seed's /token with tenant_id in the form, client_secret_post.
            let post = try await vault.form("/token", [("grant_type", "client_credentials"), ("tenant_id", "acme"), ("client_id", "api"), ("client_secret", secret)])
            #expect(post.status == 200)
            #expect(try await vault.form("/tenants/acme/token", [("grant_type", "client_credentials"), ("client_id", "api"), ("client_secret", secret)]).status == 200)

            let wrongSecret = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "client_credentials")], basic: ("api", "nope"))
            #expect(wrongSecret.status == 401)
            #expect(wrongSecret.json?["error"] == "invalid_client")
            let unknown = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "client_credentials"), ("client_id", "who"), ("client_secret", "x")])
            #expect(unknown.json?["error"] == "invalid_client")
            let otherTenant = try await vault.form("/tenants/default/oauth2/token", [("grant_type", "client_credentials")], basic: ("api", secret))
            #expect(otherTenant.json?["error"] == "invalid_client")
            let scope = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "client_credentials"), ("scope", "admin")], basic: ("api", secret))
            #expect(scope.json?["error"] == "invalid_scope")
            let grant = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "password")], basic: ("api", secret))
            #expect(grant.json?["error"] == "unsupported_grant_type")
            // The root endpoint without tenant_id is the default tenant's, which has no client "api".
            let noTenant = try await vault.form("/token", [("grant_type", "client_credentials"), ("client_id", "api"), ("client_secret", secret)])
            #expect(noTenant.status == 401 && noTenant.json?["error"] == "invalid_client")
            let json = try await vault.service.send(.POST, vault.base + "/tenants/acme/oauth2/token", json: ["grant_type": "client_credentials"])
            #expect(json.status == 400)
            #expect(json.json?["error"] == "invalid_request")

            _ = try await vault.client("spa", tenant: "acme", type: "public")
            let publicClient = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "client_credentials"), ("client_id", "spa")])
            #expect(publicClient.json?["error"] == "unauthorized_client")

            // A locked client gets nothing, at once (the memo is forgotten on update).
            let lock = try await vault.call(.PUT, "/clients/api", json: [
                "client_id": "api", "name": "App api", "tenant_id": "acme", "redirect_uris": [.string(api.redirect)], "allowed_scopes": ["api"], "is_lock": true,
            ])
            #expect(lock.status == 200, "\(lock.text)")
            let locked = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "client_credentials")], basic: ("api", secret))
            #expect(locked.json?["error"] == "unauthorized_client")
        }
    }

    @Test func introspectionRevocationAndTokenExchange() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let web = try await vault.client("web", tenant: "acme")
            let backend = try await vault.client("backend", tenant: "acme", scopes: ["openid", "profile", "api"])
            let photo = TestImages.scene(seed: 42)
            #expect(try await vault.register(tenant: "acme", username: "alice", email: "alice@example.com", image: photo).status == 201)
            let tokens = try await vault.codeFlow(web, username: "alice", image: photo)
            let access = try #require(tokens["access_token"]?.stringValue)
            let refresh = try #require(tokens["refresh_token"]?.stringValue)

            let active = try await vault.form("/introspect", [("token", access)], basic: ("web", web.secret!))
            #expect(active.json?["active"] == true)
            #expect(active.json?["username"] == "alice")
            #expect(active.json?["client_id"] == "web")
            let refreshInfo = try await vault.form("/introspect", [("token", refresh), ("tenant_id", "acme")], basic: ("web", web.secret!))
            #expect(refreshInfo.json?["active"] == true)
            #expect(refreshInfo.json?["token_type"] == "refresh_token")
            #expect(try await vault.form("/introspect", [("token", "garbage"), ("tenant_id", "acme")], basic: ("web", web.secret!)).json == ["active": false])
            #expect(try await vault.form("/introspect", [("token", access)], basic: ("web", "wrong")).status == 401)

            // RFC 8693: the backend trades the user's token for one addressed to itself.
            let exchanged = try await vault.form("/tenants/acme/oauth2/token", [
                ("grant_type", TokenRoutes.tokenExchange), ("subject_token", access), ("subject_token_type", TokenRoutes.accessTokenType), ("scope", "openid profile"),
            ], basic: ("backend", backend.secret!))
            #expect(exchanged.status == 200, "\(exchanged.text)")
            #expect(exchanged.json?["issued_token_type"]?.stringValue == TokenRoutes.accessTokenType)
            let exchangedToken = try #require(exchanged.json?["access_token"]?.stringValue)
            let claims = try #require(VaultFixture.claims(exchangedToken))
            #expect(claims["aud"] == "backend")
            #expect(claims["act"]?["sub"] == "backend")
            #expect(claims["sub"] == VaultFixture.claims(access)?["sub"])
            let wider = try await vault.form("/tenants/acme/oauth2/token", [
                ("grant_type", TokenRoutes.tokenExchange), ("subject_token", access), ("subject_token_type", TokenRoutes.accessTokenType), ("scope", "api"),
            ], basic: ("backend", backend.secret!))
            #expect(wider.json?["error"] == "invalid_scope")

            // Revocation: always 200; the access token and the refresh family stop working.
            #expect(try await vault.form("/revoke", [("token", access)], basic: ("web", web.secret!)).status == 200)
            #expect(try await vault.form("/introspect", [("token", access)], basic: ("web", web.secret!)).json?["active"] == false)
            #expect(try await vault.call(.GET, "/tenants/acme/userinfo", as: .bearer(access)).status == 401)
            #expect(try await vault.form("/revoke", [("token", refresh), ("tenant_id", "acme")], basic: ("web", web.secret!)).status == 200)
            let spent = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "refresh_token"), ("refresh_token", refresh)], basic: ("web", web.secret!))
            #expect(spent.json?["error"] == "invalid_grant")
            #expect(try await vault.form("/revoke", [("token", "whatever"), ("tenant_id", "acme")], basic: ("web", web.secret!)).status == 200)
        }
    }

    @Test func discoveryAndJWKSDescribeEveryTenant() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let root = try await vault.call(.GET, "/.well-known/openid-configuration", as: .nobody)
            // The root discovery is its own issuer (OpenID Discovery §4.3), the default tenant's.
            #expect(root.json?["issuer"]?.stringValue == vault.base)
            let acme = try await vault.call(.GET, "/tenants/acme/.well-known/openid-configuration", as: .nobody)
            #expect(acme.json?["issuer"]?.stringValue == vault.base + "/tenants/acme")
            #expect(acme.json?["code_challenge_methods_supported"] == ["S256"])
            #expect(acme.json?["id_token_signing_alg_values_supported"] == ["RS256", "EdDSA"])
            #expect(try await vault.call(.GET, "/tenants/nope/.well-known/openid-configuration", as: .nobody).status == 404)
            let jwks = try await vault.call(.GET, "/.well-known/jwks.json", as: .nobody)
            let keys = try #require(jwks.json?["keys"]?.arrayValue)
            #expect(Set(keys.compactMap { $0["alg"]?.stringValue }) == ["EdDSA", "RS256", "ECDH-ES"])
            #expect(keys.allSatisfy { $0["d"] == nil && $0["kid"] != nil })
        }
    }

    @Test func rotatedKeysStayPublishedAndOldTokensStayValid() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let api = try await vault.client("api", tenant: "acme")
            let granted = try await vault.form("/tenants/acme/oauth2/token", [("grant_type", "client_credentials")], basic: ("api", api.secret!))
            let before = try #require(granted.json?["access_token"]?.stringValue)
            let oldKid = try #require(VaultFixture.header(before)?["kid"]?.stringValue)
            let ring = KeyRing(database: vault.database, logger: .init(label: "t"), atRestKey: vault.settings.atRestKey, reloadInterval: .zero)
            let newKids = try await ring.rotate()
            #expect(newKids.count == 3)
            // A fresh ring (another replica, or this one after its reload) signs with the new key…
            let claims: JSONValue = ["sub": "x"]
            let signed = try await ring.sign(claims, algorithm: .eddsa)
            #expect(VaultFixture.header(signed)?["kid"]?.stringValue == newKids[0])
            // …and publishes both.
            let published = String(decoding: try await ring.jwks(), as: UTF8.self)
            #expect(published.contains(oldKid))
            #expect(newKids.allSatisfy { published.contains($0) })
            _ = try await ring.verify(before)
        }
    }
}
