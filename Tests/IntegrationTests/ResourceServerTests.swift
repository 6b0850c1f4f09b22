import Crypto
import Foundation
import MeetRooms
import OIDCVault
import SuiteCore
import SuiteHTTP
import SuitePostgres
import SuiteSigning
import SuiteTesting
import Testing
import UserIdentity
import VaultZKP

/// meet-rooms as a resource server of the suite's own vault: a user who logged in at the
/// vault through the code flow lists and creates rooms with the vault's access token,
/// checked by introspection; once revoked, the token is refused.
@Suite struct ResourceServerTests {
    static let operatorKey = "operator-key-for-resource-server-tests-0123"

    @Test func aVaultAccessTokenListsAndCreatesRoomsUntilItIsRevoked() async throws {
        let peers = try await Peers.make(["oidc-vault", "user-identity", "meet-rooms"])
        let urls = peers.urls
        let mail = FileManager.default.temporaryDirectory.appendingPathComponent("resource-server-mail").path
        let vault = try await peers.vault(operatorKey: Self.operatorKey, mail: mail)
        let uai = try await SuiteApplication.build(
            UserIdentityService.self, configuration: peers.configuration("user-identity", schema: "uai"),
            settings: try UserIdentityService.loadSettings(ConfigReader([
                "SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64, "UAI_BCRYPT_COST": "4", "MAIL_DIR": mail,
            ])))
        let vaultURL = urls["oidc-vault"]!, meetRooms = urls["meet-rooms"]! + "/external-api/v1.0"
        try await LiveServices.run([vault.application, uai.application], readyURLs: [vaultURL + "/health/ready", urls["user-identity"]! + "/health/ready"]) {
            // The default tenant is made at start.
            for _ in 0..<200 where try await send(.GET, vaultURL + "/.well-known/openid-configuration").status != 200 {
                try await Task.sleep(for: .milliseconds(25))
            }
            let admin = [("X-API-Key", Self.operatorKey)]
            let tenant = try await send(
                .POST, vaultURL + "/tenants", json: ["tenant_id": "acme", "register_enable": true, "display_name": "Acme"], headers: admin)
            #expect(tenant.status == 201, "\(tenant.text)")
            func client(_ id: String, scopes: [String]) async throws -> String {
                let made = try await send(.POST, vaultURL + "/clients", json: [
                    "client_id": .string(id), "name": .string(id), "tenant_id": "acme", "redirect_uris": ["https://rp.example.com/callback"],
                    "allowed_scopes": .array(scopes.map { .string($0) }), "client_type": "confidential",
                ], headers: admin)
                return try #require(made.json?["client_secret"]?.stringValue, "\(made.text)")
            }
            let meetSecret = try await client("meet-rooms", scopes: ["openid"])
            let appSecret = try await client("rooms-app", scopes: ["openid", "email", "rooms:list", "rooms:create"])

            // Ann: an account at user-identity and an image login at the vault, same address.
            _ = try await UserIdentityService.createAdmin(
                email: "ann@example.org", fullname: "Ann", password: "ann-secret-1", database: uai.dependencies.database, bcryptCost: 4,
                logger: .init(label: "test"))
            try await ImageLogin.register(vault: vaultURL, tenant: "acme", username: "ann", email: "ann@example.org")

            // The code flow with PKCE, as the application's users go through it.
            let verifier = Base64URL.encode(SecureRandom.bytes(32))
            let code = try await ImageLogin.code(
                vault: vaultURL, tenant: "acme", clientID: "rooms-app", redirect: "https://rp.example.com/callback",
                scope: "openid email rooms:list rooms:create", username: "ann", verifier: verifier, nonce: "n1")
            let tokens = try await send(.POST, vaultURL + "/tenants/acme/oauth2/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: ImageLogin.form([
                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", "https://rp.example.com/callback"),
                    ("code_verifier", verifier), ("client_id", "rooms-app"), ("client_secret", appSecret),
                ]))
            let access = try #require(tokens.json?["access_token"]?.stringValue, "\(tokens.text)")

            // meet-rooms, introspecting at the vault with a client of its own.
            var settings = MeetSettings(signingKey: .generate(), roomBaseURL: "https://meet.example.com")
            settings.resourceServer = .init(introspectionURL: vaultURL + "/tenants/acme/introspect", clientID: "meet-rooms", clientSecret: meetSecret, cacheSeconds: 1)
            var meetConfiguration = peers.configuration("meet-rooms", schema: "meet")
            meetConfiguration.publicURL += "/external-api"
            let meet = try await SuiteApplication.build(MeetRoomsService.self, configuration: meetConfiguration, settings: settings)
            try await LiveServices.run([meet.application], readyURLs: [urls["meet-rooms"]! + "/health/ready"]) {
                let empty = try await send(.GET, meetRooms + "/rooms/", json: nil, token: access)
                #expect(empty.status == 200 && empty.json?["count"] == 0, "\(empty.text)")
                let created = try await send(.POST, meetRooms + "/rooms/", json: nil, token: access)
                #expect(created.status == 201, "\(created.text)")
                #expect(try await send(.GET, meetRooms + "/rooms/", json: nil, token: access).json?["count"] == 1)
                #expect(try await send(.GET, meetRooms + "/rooms/", json: nil, token: "not-a-token").status == 401)

                // Revoked at the vault: refused once the cached answer (here 1 s) is gone.
                let revoked = try await send(.POST, vaultURL + "/tenants/acme/revoke", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: ImageLogin.form([("token", access), ("client_id", "rooms-app"), ("client_secret", appSecret)]))
                #expect(revoked.status == 200, "\(revoked.text)")
                try await Task.sleep(for: .milliseconds(1200))
                let refused = try await send(.GET, meetRooms + "/rooms/", json: nil, token: access)
                #expect(refused.status == 401, "\(refused.text)")
            }
        }
    }
}
