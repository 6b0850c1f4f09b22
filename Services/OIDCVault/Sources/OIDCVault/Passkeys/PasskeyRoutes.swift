import Foundation
import Hummingbird
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// Passkeys: a signed-in user registers them (`/webauthn/register/options` + `verify`),
/// names, lists and deletes them (`/passkeys`), and logs in with one inside an
/// authorization request (`/webauthn/authenticate/options` + `verify` → `{nonce,
/// need_verify}`, as the image login answers). Challenges are single use, in PostgreSQL;
/// the RP ID and origins are the tenant's (`webauthn_rp_id`, `webauthn_origins`), by
/// default those of the login page (`VAULT_LOGIN_UI_URL`) and of the vault itself.
struct PasskeyRoutes: Sendable {
    let vault: Vault
    var store: PasskeyStore { PasskeyStore(database: vault.database, logger: vault.logger) }

    static let challengeSeconds = 300

    func add(to router: Router<VaultContext>, access: RouteAccess) {
        let admin = router.administered(by: vault.authenticator)
        admin.post("webauthn/register/options") { request, context in try await registrationOptions(request, context) }
        admin.post("webauthn/register/verify") { request, context in try await register(request, context) }
        admin.get("passkeys") { _, context -> Response in
            let (tenant, userID) = try context.principal().requireUser()
            return .json(["passkeys": .array(try await store.passkeys(tenant: tenant, userID: userID).map(\.json))])
        }
        admin.patch("passkeys/:key_id") { request, context -> Response in
            let (tenant, userID) = try context.principal().requireUser()
            var fields = Fields(try await request.jsonObject(context: context))
            let nameField = fields.string("name", max: 128)
            let name = try fields.checked(nameField)
            guard let key = try await store.rename(tenant: tenant, userID: userID, keyID: try context.parameters.require("key_id"), name: name)
            else { throw VaultError.notFound("Passkey") }
            return .json(key.json)
        }
        admin.delete("passkeys/:key_id") { _, context -> Response in
            let (tenant, userID) = try context.principal().requireUser()
            guard try await store.delete(tenant: tenant, userID: userID, keyID: try context.parameters.require("key_id")) else {
                throw VaultError.notFound("Passkey")
            }
            return Response(status: .noContent)
        }
        // The login: its credential is the signed assertion.
        access.open(router) {
            router.post("webauthn/authenticate/options") { request, context in try await authenticationOptions(request, context) }
            router.post("webauthn/authenticate/verify") { request, context in try await authenticate(request, context) }
        }
    }

    /// The RP ID and the origins allowed for `tenant`.
    func relyingParty(_ tenant: Tenant) -> (id: String, origins: Set<String>) {
        let login = vault.settings.loginUIURL.flatMap { URLComponents(string: $0) }
        let own = URLComponents(string: vault.publicURL)
        let rpID = tenant.settings["webauthn_rp_id"]?.stringValue ?? login?.host ?? own?.host ?? "localhost"
        if case .array(let listed)? = tenant.settings["webauthn_origins"], !listed.isEmpty {
            return (rpID, Set(listed.compactMap(\.stringValue)))
        }
        let origins = [login, own].compactMap { components -> String? in
            guard let components, let scheme = components.scheme, let host = components.host else { return nil }
            return scheme + "://" + host + (components.port.map { ":\($0)" } ?? "")
        }
        return (rpID, Set(origins))
    }

    func enabledTenant(_ id: String) async throws -> Tenant {
        let tenant = try await vault.tenants.require(id)
        guard tenant.settings["passkey_enabled"]?.boolValue == true else { throw VaultError.forbidden("Passkeys are not enabled for this tenant") }
        return tenant
    }

    // MARK: Registration

    func registrationOptions(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenantID, userID) = try context.principal().requireUser()
        let tenant = try await enabledTenant(tenantID)
        guard let user = try await vault.users.find(tenant: tenantID, id: userID) else { throw VaultError.notFound("User") }
        let (rpID, _) = relyingParty(tenant)
        let challenge = Base64URL.encode(SecureRandom.bytes(32))
        try await store.saveChallenge(challenge, tenant: tenantID, userID: userID, purpose: "register", seconds: Self.challengeSeconds)
        let existing = try await store.passkeys(tenant: tenantID, userID: userID)
        return .json([
            "challenge": .string(challenge),
            "rp": ["id": .string(rpID), "name": .string(tenant.settings["display_name"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? tenantID)],
            "user": ["id": .string(Base64URL.encode(Array(user.id.utf8))), "name": .string(user.username), "displayName": .string(user.username)],
            "pubKeyCredParams": .array(WebAuthn.algorithms.map { ["type": "public-key", "alg": .number(Double($0))] }),
            "timeout": .number(Double(Self.challengeSeconds * 1000)), "attestation": "none",
            "excludeCredentials": .array(existing.map(\.descriptor)),
            "authenticatorSelection": ["residentKey": "preferred", "userVerification": "preferred"],
        ])
    }

    func register(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenantID, userID) = try context.principal().requireUser()
        var fields = Fields(try await request.jsonObject(context: context))
        let id = fields.string("id", max: 1_400)
        let rawID = fields.string("raw_id", max: 1_400)
        let clientDataField = fields.string("client_data_json", max: 8_192)
        let attestationField = fields.string("attestation_object", max: 65_536)
        let transports = fields.strings("transports", maxCount: 8, maxLength: 32, nullable: true) ?? []
        _ = fields.string("authenticator_attachment", required: false, nullable: true, max: 32)
        let name = fields.string("name", required: false, nullable: true, max: 128) ?? ""
        let (_, raw, clientDataText, attestationText) = try fields.checked(id, rawID, clientDataField, attestationField)
        let tenant = try await enabledTenant(tenantID)
        let (rpID, origins) = relyingParty(tenant)
        guard let clientDataBytes = Base64URL.decode(clientDataText), let attestationBytes = Base64URL.decode(attestationText),
            let rawBytes = Base64URL.decode(raw)
        else { throw VaultError.badRequest("client_data_json, attestation_object and raw_id must be base64url") }
        do {
            let clientData = try WebAuthn.ClientData(Array(clientDataBytes), type: "webauthn.create", origins: origins)
            guard try await store.spendChallenge(clientData.challenge, tenant: tenantID, userID: userID, purpose: "register") else {
                throw WebAuthn.Refusal("the challenge is unknown, expired, used or someone else's")
            }
            let registration = try WebAuthn.register(attestationObject: Array(attestationBytes), clientDataHash: clientData.hash, rpID: rpID)
            guard registration.credentialID == Array(rawBytes) else { throw WebAuthn.Refusal("raw_id is not the attested credential's id") }
            guard let saved = try await store.insert(
                tenant: tenantID, userID: userID, credentialID: registration.credentialID, publicKey: registration.publicKey,
                algorithm: registration.algorithm, signCount: registration.signCount, transports: transports, name: name)
            else { throw VaultError.exists("Passkey") }
            return .json(saved.json, status: .created)
        } catch let refusal as WebAuthn.Refusal {
            throw VaultError.badRequest(refusal.description)
        }
    }

    // MARK: Login

    func authenticationOptions(_ request: Request, _ context: VaultContext) async throws -> Response {
        var query = try Fields(query: request)
        let queryTenant = query.string("tenant_id", required: false, max: 64)
        try query.check()
        var fields = Fields(try await request.jsonObject(context: context))
        let usernameField = fields.string("username", max: 128)
        let bodyTenant = fields.string("tenant_id", max: 64)
        let (username, tenantID) = try fields.checked(usernameField, bodyTenant)
        if let queryTenant, queryTenant != tenantID { throw AppError.validation("tenant_id", "tenant_id must match the query", location: "body") }
        let tenant = try await enabledTenant(tenantID)
        let (rpID, _) = relyingParty(tenant)
        let challenge = Base64URL.encode(SecureRandom.bytes(32))
        try await store.saveChallenge(challenge, tenant: tenantID, userID: nil, purpose: "authenticate", seconds: Self.challengeSeconds)
        // An unknown or disabled user gets the same answer with no credentials listed (as a
        // discoverable-credential login would): the options do not say who exists.
        var allowed: [JSONValue] = []
        if let user = try await vault.users.find(tenant: tenantID, username: username), !user.isDisabled {
            allowed = try await store.passkeys(tenant: tenantID, userID: user.id).map(\.descriptor)
        }
        return .json([
            "challenge": .string(challenge), "rpId": .string(rpID), "allowCredentials": .array(allowed),
            "userVerification": "preferred", "timeout": .number(Double(Self.challengeSeconds * 1000)),
        ])
    }

    func authenticate(_ request: Request, _ context: VaultContext) async throws -> Response {
        var query = try Fields(query: request)
        let authReqID = query.string("auth_req_id", required: false, max: 64)
        try query.check()
        var fields = Fields(try await request.jsonObject(context: context))
        let id = fields.string("id", max: 1_400)
        let rawID = fields.string("raw_id", max: 1_400)
        let clientDataField = fields.string("client_data_json", max: 8_192)
        let authenticatorField = fields.string("authenticator_data", max: 8_192)
        let signatureField = fields.string("signature", max: 2_048)
        let usernameField = fields.string("username", max: 128)
        let tenantField = fields.string("tenant_id", max: 64)
        let userHandle = fields.string("user_handle", required: false, nullable: true, max: 256)
        _ = fields.string("authenticator_attachment", required: false, nullable: true, max: 32)
        let (_, raw, clientDataText, authenticatorText, signatureText, username, tenantID) = try fields.checked(
            id, rawID, clientDataField, authenticatorField, signatureField, usernameField, tenantField)
        var authRequest: ZKPLogin.AuthRequest?
        if let authReqID {
            guard let (tenant, client) = try await vault.credentials.pendingAuthRequest(authReqID), tenant == tenantID else {
                throw AppError.validation("auth_req_id", "Unknown or expired authorization request", location: "query")
            }
            authRequest = ZKPLogin.AuthRequest(id: authReqID, tenant: tenant, client: client)
        }
        let tenant = try await enabledTenant(tenantID)
        let (rpID, origins) = relyingParty(tenant)
        guard let clientDataBytes = Base64URL.decode(clientDataText), let authenticatorBytes = Base64URL.decode(authenticatorText),
            let signature = Base64URL.decode(signatureText), let credentialID = Base64URL.decode(raw)
        else { throw VaultError.badRequest("client_data_json, authenticator_data, signature and raw_id must be base64url") }
        let ip = request.clientAddress(context: context)
        let user = try await vault.users.find(tenant: tenantID, username: username)
        try await vault.lockout.reserve(tenant: tenant, ip: ip, userID: user?.id)
        do {
            let clientData = try WebAuthn.ClientData(Array(clientDataBytes), type: "webauthn.get", origins: origins)
            guard try await store.spendChallenge(clientData.challenge, tenant: tenantID, userID: nil, purpose: "authenticate") else {
                throw WebAuthn.Refusal("the challenge is unknown, expired or used")
            }
            guard let user, !user.isDisabled, let passkey = try await store.passkey(tenant: tenantID, credentialID: Array(credentialID)),
                passkey.userID == user.id
            else { throw WebAuthn.Refusal("no such passkey for this user") }
            if let userHandle, Base64URL.decode(userHandle).map(Array.init) != Array(user.id.utf8) {
                throw WebAuthn.Refusal("the user handle is not this user's")
            }
            let result = try WebAuthn.assert(
                authenticatorData: Array(authenticatorBytes), clientDataHash: clientData.hash, signature: Array(signature),
                publicKey: passkey.publicKey, storedCount: passkey.signCount, rpID: rpID)
            let use = AccessInfo.block(request, context: context)
            guard try await store.used(tenant: tenantID, credentialID: passkey.credentialID, from: passkey.signCount, to: result.signCount, use: use)
            else { throw WebAuthn.Refusal("the signature counter went back: the credential may have been cloned") }
            try await vault.lockout.succeeded(tenant: tenant, ip: ip, userID: user.id)
            let nonce = Base64URL.encode(SecureRandom.bytes(32))
            // A passkey is a step-up in itself: no PIN or pattern after it.
            if let authRequest {
                try await vault.credentials.markAuthenticated(authReqID: authRequest.id, userID: user.id, nonceHash: sha256(nonce), needVerify: false)
            }
            try await vault.login.audit(tenant: tenantID, userID: user.id, outcome: "success-passkey", ip: ip, ber: nil, logData: nil)
            return .json(["nonce": .string(nonce), "need_verify": false])
        } catch let refusal as WebAuthn.Refusal {
            try await vault.lockout.failed(tenant: tenant, ip: ip, userID: user?.id)
            try await vault.login.audit(tenant: tenantID, userID: user?.id, outcome: "failed-passkey", ip: ip, ber: nil, logData: nil)
            vault.logger.notice("passkey login refused", metadata: ["reason": "\(refusal.description)"])
            throw ZKPLogin.failed
        }
    }
}
