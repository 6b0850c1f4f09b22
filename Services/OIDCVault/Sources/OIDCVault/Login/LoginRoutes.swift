import Crypto
import Foundation
import Hummingbird
import Logging
import SuiteCore
import SuiteHTTP
import SuiteMail
import SuiteSigning
import VaultZKP

/// The zero-knowledge login (API-MAP.md, proto_version "1"): enrolment, challenges,
/// authentication, and replacing the credential.
struct LoginRoutes: Sendable {
    let vault: Vault
    var store: CredentialStore { vault.credentials }
    typealias AuthRequest = ZKPLogin.AuthRequest

    /// What a challenge was asked for: a login inside an authorization request, or a
    /// proof outside one (authenticate without `auth_req_id`, an email change). The
    /// binding that matters is to the request: a challenge of one never serves another.
    enum Purpose: String {
        case login, email
    }

    static let failed = ZKPLogin.failed
    static let challengeLifetime = 120

    func add(to router: Router<VaultContext>, access: RouteAccess) {
        // Who calls is known before any handler runs: an API key or a bearer token.
        let admin = router.administered(by: vault.authenticator)
        // The login itself: its credentials are in the body (the proof, the mailed reset token).
        access.open(router) {
            router.post("auth/register") { request, context in try await register(request, context) }
            router.post("auth/challenge") { request, context in try await challenge(request, context) }
            router.post("auth/authenticate") { request, context in try await authenticate(request, context) }
            router.post("auth/password/reset-request") { request, context in try await resetRequest(request, context) }
            router.post("auth/password/reset") { request, context in try await reset(request, context) }
        }
        admin.post("auth/password/change") { request, context in try await change(request, context) }
    }

    /// The tenant (and pending authorization request) a login call is for: the request's
    /// when `auth_req_id` is given, else `tenant_id`, else the default tenant.
    func scope(_ request: Request) async throws -> (Tenant, AuthRequest?) {
        var query = try Fields(query: request)
        let authReqID = query.string("auth_req_id", required: false, max: 64)
        let tenantID = query.string("tenant_id", required: false, max: 64)
        try query.check()
        if let authReqID {
            if let (tenant, client) = try await store.pendingAuthRequest(authReqID) {
                return (try await vault.tenants.require(tenant), AuthRequest(id: authReqID, tenant: tenant, client: client))
            }
            throw AppError.validation("auth_req_id", "Unknown or expired authorization request", location: "query")
        }
        return (try await vault.tenants.require(tenantID ?? vault.settings.defaultTenant), nil)
    }

    // MARK: - Enrolment

    func register(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, authRequest) = try await scope(request)
        var fields = Fields(try await request.jsonObject(context: context))
        let usernameField = fields.string("username", max: 128, pattern: .username)
        let emailField = fields.email("email")
        let sealedField = fields.string("encrypted_commitment", max: 65_536)
        fields.protoVersion()
        let logData = fields.object("log_data", nullable: true)
        let (username, email, sealed) = try fields.checked(usernameField, emailField, sealedField)
        let commitment = try await vault.login.open(sealed)
        try await vault.rateLimiter.enforce(
            [(RateLimit(name: "vault-register-ip", limit: 30, windowSeconds: 3600), request.clientAddress(context: context))])
        if let authRequest, let client = try await vault.clients.find(tenant: tenant.id, id: authRequest.client),
            !(client.document["register_enable"]?.boolValue ?? false) || !tenant.registerEnable
        {
            throw VaultError.forbidden("Registration is not enabled")
        }
        // A user an admin made without a credential enrols under the same username and email.
        if let existing = try await vault.users.find(tenant: tenant.id, username: username) {
            guard existing.email == email, try await !store.hasCredential(tenant: tenant.id, userID: existing.id) else {
                throw VaultError.exists("Username")
            }
            try await vault.login.save(commitment, tenant: tenant.id, userID: existing.id)
        } else {
            guard tenant.registerEnable else { throw VaultError.forbidden("Registration is not enabled") }
            let user = VaultUser(
                tenant: tenant.id, id: UUID().uuidString.lowercased(), username: username, email: email, isDisabled: false,
                isVerified: false, locale: nil, roles: [], externalID: nil, createdAt: Date(), updatedAt: Date())
            switch try await vault.users.insert(user, emailUnique: tenant.hasUsernameAndEmail) {
            case .created: try await vault.login.save(commitment, tenant: tenant.id, userID: user.id)
            case .emailTaken: throw VaultError.exists("Email")
            default: throw VaultError.exists("Username")
            }
        }
        try await vault.login.audit(tenant: tenant.id, userID: nil, outcome: "register", ip: request.clientAddress(context: context), ber: nil, logData: logData)
        return .null(status: .created)
    }


    // MARK: - Challenge and authentication

    func challenge(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, authRequest) = try await scope(request)
        var fields = Fields(try await request.jsonObject(context: context))
        let usernameField = fields.string("username", max: 128)
        let cipherKey = fields.string("cipherKey", max: 128)
        var recipientField: Curve25519.KeyAgreement.PublicKey?
        if let cipherKey {
            recipientField = Base64URL.decode(cipherKey).flatMap { try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: $0) }
            if recipientField == nil {
                fields.problem("cipherKey", "cipherKey must be a base64url X25519 public key (32 bytes)", type: "value_error")
            }
        }
        let (username, recipient) = try fields.checked(usernameField, recipientField)
        try await vault.rateLimiter.enforce(
            [(RateLimit(name: "vault-challenge-ip", limit: 300, windowSeconds: 60), request.clientAddress(context: context))])
        let challengeUUID = UUID()
        let challengeID = challengeUUID.uuidString.lowercased()
        let nonce = SecureRandom.bytes(32)
        let helper: ZKP.Helper
        let code: ExtractorCode
        let algorithm: String
        if let user = try await vault.users.find(tenant: tenant.id, username: username), !user.isDisabled,
            let credential = try await vault.login.credential(tenant: tenant.id, userID: user.id)
        {
            (helper, code, algorithm) = (credential.helper, credential.code, credential.algorithmVersion)
            try await store.insertChallenge(
                id: challengeUUID, tenant: tenant.id, userID: user.id, authReqID: authRequest?.id,
                purpose: authRequest == nil ? Purpose.email.rawValue : Purpose.login.rawValue, nonce: nonce,
                lifetimeSeconds: Self.challengeLifetime)
        } else {
            // An unknown name gets a challenge of the same shape, stable per name, so the
            // answer does not tell who has an account. It can never be answered.
            (helper, code, algorithm) = (decoyHelper(tenant: tenant.id, username: username), .version1, ZKP.algorithmVersion)
        }
        let payload: JSONValue = [
            "challenge_id": .string(challengeID), "nonce": .string(Base64URL.encode(nonce)), "helper": helper.json,
            "code": code.json,
            "algorithm_version": .string(algorithm), "expires_in": .number(Double(Self.challengeLifetime)),
        ]
        let sealed = try JWE.encrypt(CanonicalJSON.bytes(payload), to: recipient)
        return .json(["challenge_data": .string(sealed), "proto_version": .string(ZKP.protoVersion)])
    }

    func decoyHelper(tenant: String, username: String) -> ZKP.Helper {
        let seed = HMAC<SHA256>.authenticationCode(
            for: Array((tenant + "\u{0}" + username.lowercased()).utf8), using: vault.settings.atRestKey)
        var generator = SplitMix64(seed: Array(seed).prefix(8).reduce(0) { $0 << 8 | UInt64($1) })
        let pool = ImageFeatures.poolSide * ImageFeatures.poolSide - 1
        var positions = Array(0..<pool)
        positions.shuffle(using: &generator)
        return ZKP.Helper(
            positions: Array(positions.prefix(ImageFeatures.bitCount)).sorted(),
            offset: (0..<(ExtractorCode.version1.n * 8)).map { _ in UInt8(generator.next() & 1) })
    }

    func authenticate(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, authRequest) = try await scope(request)
        var fields = Fields(try await request.jsonObject(context: context))
        let usernameField = fields.string("username", max: 128)
        _ = fields.string("cipherKey", max: 128)
        let challengeField = fields.string("challenge_id", max: 64)
        let signatureField = fields.string("challenge_data", max: 256)
        let ber = fields.object("ber", nullable: true)
        let logData = fields.object("log_data", nullable: true)
        let (username, challengeID, signature) = try fields.checked(usernameField, challengeField, signatureField)
        let ip = request.clientAddress(context: context)
        let user = try await vault.users.find(tenant: tenant.id, username: username)
        try await vault.lockout.reserve(tenant: tenant, ip: ip, userID: user?.id)
        let berJSON: JSONValue? = ber.map { .object($0) }
        guard let user, !user.isDisabled else {
            try await vault.lockout.failed(tenant: tenant, ip: ip, userID: nil)
            try await vault.login.audit(tenant: tenant.id, userID: nil, outcome: "unknown-user", ip: ip, ber: berJSON, logData: logData)
            throw Self.failed
        }
        do {
            try await vault.login.verifyChallenge(
                tenant: tenant.id, user: user, challengeID: challengeID, signature: signature, authRequest: authRequest)
        } catch let error as AppError where error.status == .unauthorized {
            try await vault.lockout.failed(tenant: tenant, ip: ip, userID: user.id)
            try await vault.login.audit(tenant: tenant.id, userID: user.id, outcome: "failed", ip: ip, ber: berJSON, logData: logData)
            throw error
        }
        try await vault.lockout.succeeded(tenant: tenant, ip: ip, userID: user.id)
        // The BER is the client's word: a risk signal, never the proof.
        let percent = ber?["ber"]?["BER_PERCENT"]?.stringValue.flatMap(Double.init)
            ?? ber?["ber"]?["error_bits"]?.intValue.flatMap { errors in
                (ber?["ber"]?["count_bits"]?.intValue).map { Double(errors) * 100 / Double(max($0, 1)) }
            } ?? 0
        let needVerify = percent > tenant.settings["ber_soft_limit_percent"]?.intValue.map(Double.init) ?? vault.settings.berSoftLimitPercent
        let nonce = Base64URL.encode(SecureRandom.bytes(32))
        if let authRequest {
            try await store.markAuthenticated(authReqID: authRequest.id, userID: user.id, nonceHash: sha256(nonce), needVerify: needVerify)
        }
        try await vault.login.audit(tenant: tenant.id, userID: user.id, outcome: "success", ip: ip, ber: berJSON, logData: logData)
        return .json(["nonce": .string(nonce), "need_verify": .bool(needVerify)])
    }

    // MARK: - Replacing the credential

    func resetRequest(_ request: Request, _ context: VaultContext) async throws -> Response {
        var query = try Fields(query: request)
        _ = query.string("client_id", max: 128)
        let tenantField = query.string("tenant_id", max: 64)
        let tenantID = try query.checked(tenantField)
        var fields = Fields(try await request.jsonObject(context: context))
        let usernameField = fields.string("username", max: 128)
        let emailField = fields.string("email", max: 254)
        let (username, email) = try fields.checked(usernameField, emailField)
        try await vault.rateLimiter.enforce([
            (RateLimit(name: "vault-reset-ip", limit: 10, windowSeconds: 3600), request.clientAddress(context: context)),
            (RateLimit(name: "vault-reset-user", limit: 3, windowSeconds: 3600), tenantID + "/" + username.lowercased()),
        ])
        // The same answer whether or not the pair matches: no enumeration.
        if let tenant = try await vault.tenants.find(tenantID), let user = try await vault.users.find(tenant: tenant.id, username: username),
            user.email == Validate.normalizedEmail(email), !user.isDisabled
        {
            let code = SecureRandom.string(count: 8, alphabet: Array("0123456789".utf8))
            let message = MailMessage(
                from: vault.settings.mail.from, to: [user.email], subject: "Your reset code",
                text: "Hello \(user.username),\n\nYour code to enrol a new image is \(code). It expires in 15 minutes.\n\nIf you did not ask for it, ignore this message.\n")
            try await store.insertResetCode(
                hash: sha256(tenant.id + "\u{0}" + code), tenant: tenant.id, userID: user.id, mail: message.envelope())
        }
        return .null()
    }

    func reset(_ request: Request, _ context: VaultContext) async throws -> Response {
        var fields = Fields(try await request.jsonObject(context: context))
        let codeField = fields.string("code", max: 32)
        let usernameField = fields.string("username", max: 128)
        let sealedField = fields.string("encrypted_commitment", max: 65_536)
        fields.protoVersion()
        _ = fields.object("log_data", nullable: true)
        let (code, username, sealed) = try fields.checked(codeField, usernameField, sealedField)
        let tenantID = try await scope(request).0.id
        try await vault.rateLimiter.enforce([
            (RateLimit(name: "vault-reset-code-ip", limit: 20, windowSeconds: 3600), request.clientAddress(context: context))
        ])
        let commitment = try await vault.login.open(sealed)
        let invalid = VaultError.badRequest("Invalid or expired code")
        guard let user = try await vault.users.find(tenant: tenantID, username: username) else { throw invalid }
        guard try await store.consumeResetCode(hash: sha256(tenantID + "\u{0}" + code), userID: user.id) else { throw invalid }
        try await vault.login.save(commitment, tenant: tenantID, userID: user.id)
        try await vault.sessions.revokeAll(tenant: tenantID, userID: user.id)
        return .null()
    }

    func change(_ request: Request, _ context: VaultContext) async throws -> Response {
        let principal = try context.principal()
        let (tenant, userID) = try principal.requireUser()
        var fields = Fields(try await request.jsonObject(context: context))
        let sealedField = fields.string("encrypted_commitment", max: 65_536)
        fields.protoVersion()
        _ = fields.object("log_data", nullable: true)
        let sealed = try fields.checked(sealedField)
        try await vault.login.save(try await vault.login.open(sealed), tenant: tenant, userID: userID)
        return .null()
    }
}
