import Foundation
import OIDCVault
import SuiteCore
import SuiteHTTP
import SuitePostgres
import SuiteSigning
import SuiteTesting
import Testing
import UserIdentity

/// Flow 3: a user logs in at the suite's vault with the image login and trades the code
/// (or the ID token) at user-identity's `POST /oauth/vault` for user-identity's token
/// pair, for the account the vault user was provisioned from (`external_id`). The keys
/// and the token endpoint are reached over internal HTTP (`OIDC_VAULT_URL`).
@Suite struct VaultLoginTests {
    static let operatorKey = "operator-key-for-vault-login-tests-0123456"

    /// The tenant `acme` and user-identity's client there (its secret).
    static func acmeWithUserIdentityClient(vault vaultURL: String, redirect: String, registerEnable: Bool) async throws -> String {
        let admin = [("X-API-Key", Self.operatorKey)]
        let tenant = try await send(.POST, vaultURL + "/tenants", json: ["tenant_id": "acme", "register_enable": .bool(registerEnable)], headers: admin)
        #expect(tenant.status == 201, "\(tenant.text)")
        let client = try await send(.POST, vaultURL + "/clients", json: [
            "client_id": "user-identity", "name": "User&Identity", "tenant_id": "acme", "redirect_uris": .array([.string(redirect)]),
            "allowed_scopes": ["openid", "email"], "client_type": "confidential",
        ], headers: admin)
        return try #require(client.json?["client_secret"]?.stringValue, "\(client.text)")
    }


    @Test func aVaultLoginGetsTheUsersTokenPairAtUserIdentity() async throws {
        let peers = try await Peers.make(["oidc-vault", "user-identity"])
        let urls = peers.urls
        let mail = FileManager.default.temporaryDirectory.appendingPathComponent("vault-login-mail").path
        // The vault's public address is not where user-identity reaches it: the issuer says
        // one, the keys and the token endpoint are fetched at the other.
        let vault = try await peers.vault(operatorKey: Self.operatorKey, mail: mail, publicURL: "https://login.example.com/vault")
        let vaultURL = urls["oidc-vault"]!
        let redirect = "https://app.example.com/vault/callback"
        try await LiveServices.run([vault.application], readyURLs: [vaultURL + "/health/ready"]) {
            let admin = [("X-API-Key", Self.operatorKey)]
            let secret = try await Self.acmeWithUserIdentityClient(vault: vaultURL, redirect: redirect, registerEnable: true)

            let uai = try await SuiteApplication.build(
                UserIdentityService.self, configuration: peers.configuration("user-identity", schema: "uai"),
                settings: try UserIdentityService.loadSettings(ConfigReader([
                    "SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64, "UAI_BCRYPT_COST": "4", "MAIL_DIR": mail,
                    "UAI_VAULT_ISSUER": "https://login.example.com/vault/tenants/acme", "UAI_VAULT_CLIENT_ID": "user-identity",
                    "UAI_VAULT_CLIENT_SECRET": secret,
                ])))
            let userIdentity = urls["user-identity"]!
            try await LiveServices.run([uai.application], readyURLs: [userIdentity + "/health/ready"]) {
                // Ann has an account at user-identity, and the vault user provisioned from it.
                let ann = try await UserIdentityService.createAdmin(
                    email: "ann@example.org", fullname: "Ann Example", password: "ann-secret-1", database: uai.dependencies.database,
                    bcryptCost: 4, logger: .init(label: "test"))
                try await ImageLogin.register(vault: vaultURL, tenant: "acme", username: "ann", email: "ann.vault@example.org")
                let vaultUser = try #require(
                    try await send(.GET, vaultURL + "/tenants/acme/users/by-username/ann", headers: admin).json?["user_id"]?.stringValue)
                let provisioned = try await send(.PUT, vaultURL + "/tenants/acme/users/\(vaultUser)", json: [
                    "user_id": .string(vaultUser), "username": "ann", "email": "ann.vault@example.org", "tenant_id": "acme",
                    "external_id": .string(ann.uuidString.lowercased()),
                ], headers: admin)
                #expect(provisioned.status == 200, "\(provisioned.text)")

                // The code flow: user-identity exchanges the code at the vault itself.
                let verifier = Base64URL.encode(SecureRandom.bytes(32))
                let code = try await ImageLogin.code(
                    vault: vaultURL, tenant: "acme", clientID: "user-identity", redirect: redirect, scope: "openid email", username: "ann",
                    verifier: verifier, nonce: "nonce-1")
                let pair = try await send(.POST, userIdentity + "/oauth/vault", json: [
                    "code": .string(code), "redirect_uri": .string(redirect), "code_verifier": .string(verifier), "nonce": "nonce-1",
                ])
                #expect(pair.status == 201, "\(pair.text)")
                let access = try #require(pair.json?["accessToken"]?.stringValue)
                let me = try await send(.GET, userIdentity + "/users/me", json: nil, token: access)
                #expect(me.json?["id"] == .string(ann.uuidString.lowercased()) && me.json?["email"] == "ann@example.org", "\(me.text)")
                // A code works once.
                let reused = try await send(.POST, userIdentity + "/oauth/vault", json: [
                    "code": .string(code), "redirect_uri": .string(redirect), "code_verifier": .string(verifier),
                ])
                #expect(reused.status == 401, "\(reused.text)")

                // The ID token path: the client did the exchange itself.
                let verifier2 = Base64URL.encode(SecureRandom.bytes(32))
                let code2 = try await ImageLogin.code(
                    vault: vaultURL, tenant: "acme", clientID: "user-identity", redirect: redirect, scope: "openid email", username: "ann",
                    verifier: verifier2, nonce: "nonce-2")
                let tokens = try await send(.POST, vaultURL + "/tenants/acme/oauth2/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: ImageLogin.form([
                        ("grant_type", "authorization_code"), ("code", code2), ("redirect_uri", redirect), ("code_verifier", verifier2),
                        ("client_id", "user-identity"), ("client_secret", secret),
                    ]))
                let idToken = try #require(tokens.json?["id_token"]?.stringValue, "\(tokens.text)")
                let byToken = try await send(.POST, userIdentity + "/oauth/vault", json: ["id_token": .string(idToken), "nonce": "nonce-2"])
                #expect(byToken.status == 201, "\(byToken.text)")
                let wrongNonce = try await send(.POST, userIdentity + "/oauth/vault", json: ["id_token": .string(idToken), "nonce": "nonce-1"])
                #expect(wrongNonce.status == 401)
                // One character of the signature's first byte changed (its last characters carry
                // padding bits a decoder may ignore).
                let signatureStart = idToken.index(after: try #require(idToken.lastIndex(of: ".")))
                let swapped = idToken[signatureStart] == "A" ? "B" : "A"
                let forged = String(idToken[..<signatureStart]) + swapped + String(idToken[idToken.index(after: signatureStart)...])
                let tampered = try await send(.POST, userIdentity + "/oauth/vault", json: ["id_token": .string(forged)])
                #expect(tampered.status == 401)
            }
        }
    }

    /// user-identity relaying its accounts to the vault's tenant `acme` (flow 4), and
    /// logging in through it with the client `user-identity` (flow 3).
    static func provisioningUserIdentity(_ peers: Peers, vault vaultURL: String, clientSecret: String, mail: String) async throws
        -> BuiltService<UserIdentityService>
    {
        try await SuiteApplication.build(
            UserIdentityService.self, configuration: peers.configuration("user-identity", schema: "uai"),
            settings: try UserIdentityService.loadSettings(ConfigReader([
                "SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64, "UAI_BCRYPT_COST": "4", "MAIL_DIR": mail,
                "UAI_VAULT_PROVISION_TENANT": "acme", "UAI_VAULT_ISSUER": vaultURL + "/tenants/acme",
                "UAI_VAULT_CLIENT_ID": "user-identity", "UAI_VAULT_CLIENT_SECRET": clientSecret,
            ])))
    }

    /// Flow 4 through an outage: accounts made while the vault is down wait in
    /// user-identity (the relay's lag says so) and reach the vault once it is back, without
    /// a restart of either.
    @Test func accountsMadeWhileTheVaultIsDownReachItWhenItIsBack() async throws {
        let peers = try await Peers.make(["oidc-vault", "user-identity"])
        let urls = peers.urls
        let mail = FileManager.default.temporaryDirectory.appendingPathComponent("vault-outage-mail-\(UUID().uuidString.prefix(6))").path
        let vaultURL = urls["oidc-vault"]!, userIdentity = urls["user-identity"]!
        let admin = [("X-API-Key", Self.operatorKey)]
        // The tenant exists; then the vault goes away.
        let first = try await peers.vault(operatorKey: Self.operatorKey, mail: mail)
        let secret = try await LiveServices.run([first.application], readyURLs: [vaultURL + "/health/ready"]) {
            try await Self.acmeWithUserIdentityClient(vault: vaultURL, redirect: "https://app.example.com/cb", registerEnable: false)
        }
        let uai = try await Self.provisioningUserIdentity(peers, vault: vaultURL, clientSecret: secret, mail: mail)
        try await LiveServices.run([uai.application], readyURLs: [userIdentity + "/health/ready"]) {
            let bea = try await UserIdentityService.createAdmin(
                email: "bea@example.org", fullname: "Bea Example", password: "bea-secret-1", database: uai.dependencies.database, bcryptCost: 4,
                logger: .init(label: "test"))
            let beaID = bea.uuidString.lowercased()
            // The relay cannot deliver: the lag shows it.
            var lagging = false
            for _ in 0..<60 where !lagging {
                let metrics = try await send(.GET, userIdentity + "/metrics").text
                lagging = metrics.split(separator: "\n").contains { $0.hasPrefix("uai_vault_relay_lag_events ") && !$0.hasSuffix(" 0") }
                if !lagging { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(lagging, "the relay's lag does not show the waiting account")
            // The vault is back, on the same address and database: she arrives.
            let second = try await peers.vault(operatorKey: Self.operatorKey, mail: mail)
            try await LiveServices.run([second.application], readyURLs: [vaultURL + "/health/ready"]) {
                var arrived = false
                for _ in 0..<200 where !arrived {
                    arrived = try await send(.GET, vaultURL + "/tenants/acme/users/\(beaID)", headers: admin).status == 200
                    if !arrived { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(arrived, "the account never reached the vault after it came back")
            }
        }
    }

    /// Flow 4 then flow 3: an account made in user-identity appears in the vault (its id as
    /// the vault user's id and external_id), enrols an image there through the reset code,
    /// logs in, and gets its user-identity token pair; disabled in user-identity, the vault
    /// refuses its next login within 5 s.
    @Test func anAccountMadeInUserIdentityIsProvisionedToTheVaultUntilDisabled() async throws {
        let peers = try await Peers.make(["oidc-vault", "user-identity"])
        let urls = peers.urls
        let mail = FileManager.default.temporaryDirectory.appendingPathComponent("vault-provision-mail-\(UUID().uuidString.prefix(6))").path
        let vault = try await peers.vault(operatorKey: Self.operatorKey, mail: mail)
        let vaultURL = urls["oidc-vault"]!, userIdentity = urls["user-identity"]!
        let redirect = "https://app.example.com/vault/callback"
        try await LiveServices.run([vault.application], readyURLs: [vaultURL + "/health/ready"]) {
            let admin = [("X-API-Key", Self.operatorKey)]
            let secret = try await Self.acmeWithUserIdentityClient(vault: vaultURL, redirect: redirect, registerEnable: false)
            let uai = try await Self.provisioningUserIdentity(peers, vault: vaultURL, clientSecret: secret, mail: mail)
            try await LiveServices.run([uai.application], readyURLs: [userIdentity + "/health/ready"]) {
                let database = uai.dependencies.database
                _ = try await UserIdentityService.createAdmin(
                    email: "root@example.org", fullname: "Root Admin", password: "root-secret-1", database: database, bcryptCost: 4,
                    logger: .init(label: "test"))
                let ann = try await UserIdentityService.createAdmin(
                    email: "ann@example.org", fullname: "Ann Example", password: "ann-secret-1", database: database, bcryptCost: 4,
                    logger: .init(label: "test"))
                let annID = ann.uuidString.lowercased()
                // She appears in the vault, promptly.
                var provisioned: JSONValue?
                for _ in 0..<100 {
                    let found = try await send(.GET, vaultURL + "/tenants/acme/users/\(annID)", headers: admin)
                    if found.status == 200 { provisioned = found.json; break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let user = try #require(provisioned, "the account never reached the vault")
                #expect(user["external_id"] == .string(annID) && user["email"] == "ann@example.org" && user["username"] == "ann@example.org")
                #expect(user["is_disabled"] == false)

                // She enrols an image with a reset code mailed by the vault, then logs in.
                #expect(try await send(.POST, vaultURL + "/auth/password/reset-request?client_id=user-identity&tenant_id=acme", json: [
                    "username": "ann@example.org", "email": "ann@example.org",
                ]).status == 200)
                var code: String?
                for _ in 0..<100 where code == nil {
                    for name in (try? FileManager.default.contentsOfDirectory(atPath: mail)) ?? [] {
                        let raw = (try? String(contentsOfFile: mail + "/" + name, encoding: .utf8)) ?? ""
                        // The body is base64 (Content-Transfer-Encoding), after the blank line.
                        let encoded = raw.components(separatedBy: "\r\n\r\n").dropFirst().joined().replacingOccurrences(of: "\r\n", with: "")
                        let text = Data(base64Encoded: encoded).map { String(decoding: $0, as: UTF8.self) } ?? ""
                        if raw.contains("To: ann@example.org"), let range = text.range(of: #"image is \d{8}"#, options: .regularExpression) {
                            code = String(text[range].suffix(8))
                        }
                    }
                    if code == nil { try await Task.sleep(for: .milliseconds(50)) }
                }
                let resetCode = try #require(code, "no reset code was mailed: \(((try? FileManager.default.contentsOfDirectory(atPath: mail)) ?? []).map { (try? String(contentsOfFile: mail + "/" + $0, encoding: .utf8)) ?? $0 })")
                let reset = try await send(.POST, vaultURL + "/auth/password/reset?tenant_id=acme", json: [
                    "code": .string(resetCode), "username": "ann@example.org", "proto_version": "1",
                    "encrypted_commitment": .string(try await ImageLogin.sealedCommitment(vault: vaultURL, tenant: "acme", username: "ann@example.org")),
                ])
                #expect(reset.status == 200, "\(reset.text)")
                let verifier = Base64URL.encode(SecureRandom.bytes(32))
                let authorization = try await ImageLogin.code(
                    vault: vaultURL, tenant: "acme", clientID: "user-identity", redirect: redirect, scope: "openid email",
                    username: "ann@example.org", verifier: verifier, nonce: "n")
                let pair = try await send(.POST, userIdentity + "/oauth/vault", json: [
                    "code": .string(authorization), "redirect_uri": .string(redirect), "code_verifier": .string(verifier),
                ])
                #expect(pair.status == 201, "\(pair.text)")
                let me = try await send(.GET, userIdentity + "/users/me", json: nil, token: try #require(pair.json?["accessToken"]?.stringValue))
                #expect(me.json?["id"] == .string(annID), "\(me.text)")

                // Disabled in user-identity: the vault refuses her next login within 5 s.
                let rootToken = try #require(try await send(.POST, userIdentity + "/authentications", json: [
                    "email": "root@example.org", "password": "root-secret-1",
                ]).json?["accessToken"]?.stringValue)
                #expect(try await send(.DELETE, userIdentity + "/users/\(annID)/enabling", json: nil, token: rootToken).status == 204)
                let disabledAt = Date()
                var refused = false
                while Date().timeIntervalSince(disabledAt) < 5 {
                    let attempt = try await ImageLogin.authenticate(
                        vault: vaultURL, tenant: "acme", clientID: "user-identity", redirect: redirect, scope: "openid email",
                        username: "ann@example.org", verifier: Base64URL.encode(SecureRandom.bytes(32)), nonce: "n2")
                    if attempt.answer.status != 200 { refused = true; break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(refused, "the vault still let her in 5 s after she was disabled")
                #expect(try await send(.GET, vaultURL + "/tenants/acme/users/\(annID)", headers: admin).json?["is_disabled"] == true)
                let lag = try await send(.GET, userIdentity + "/metrics").text
                #expect(lag.contains("uai_vault_relay_lag_events 0"), "\(lag.split(separator: "\n").filter { $0.contains("relay") })")
            }
        }
    }
}
