import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// The token endpoint (four grants), userinfo, introspection, revocation and logout.
struct TokenRoutes: Sendable {
    let vault: Vault

    static let tokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"

    func add(to router: Router<VaultContext>, access: RouteAccess) {
        // Public clients (RFC 6749 §2.1) redeem codes and revoke their tokens (RFC 7009
        // §2.1) with their client_id alone: the handler authenticates each client as its
        // registration says.
        // RFC 6749 §5.2's error JSON on the OAuth endpoints, whatever their path.
        let oauth = router.group().add(middleware: DialectMiddleware(.oauth))
        access.open(router) {
            oauth.post("token") { request, context in try await token(request, context, tenant: nil) }
            oauth.post("tenants/:tenant_id/token") { request, context in
                try await token(request, context, tenant: try context.parameters.require("tenant_id"))
            }
            oauth.post("tenants/:tenant_id/oauth2/token") { request, context in
                try await token(request, context, tenant: try context.parameters.require("tenant_id"))
            }
            oauth.post("revoke") { request, context in try await revoke(request, context, tenant: nil) }
            oauth.post("tenants/:tenant_id/revoke") { request, context in
                try await revoke(request, context, tenant: try context.parameters.require("tenant_id"))
            }
        }
        // Each tenant's discovery names its own userinfo, introspection and revocation
        // endpoints; the root ones serve the default tenant (and keep the `tenant_id` form
        // field they always took).
        router.get("userinfo") { request, context in try await userinfo(request, context, tenant: vault.settings.defaultTenant) }
        router.post("userinfo") { request, context in try await userinfo(request, context, tenant: vault.settings.defaultTenant) }
        router.get("tenants/:tenant_id/userinfo") { request, context in
            try await userinfo(request, context, tenant: try context.parameters.require("tenant_id"))
        }
        router.post("tenants/:tenant_id/userinfo") { request, context in
            try await userinfo(request, context, tenant: try context.parameters.require("tenant_id"))
        }
        oauth.post("introspect") { request, context in try await introspect(request, context, tenant: nil) }
        oauth.post("tenants/:tenant_id/introspect") { request, context in
            try await introspect(request, context, tenant: try context.parameters.require("tenant_id"))
        }
        // RP-initiated logout comes from a browser; the id_token_hint is checked, and a refused one changes nothing.
        access.open(router) {
            router.get("logout") { request, context in try await logout(try request.queryForm()) }
            router.post("logout") { request, context in try await logout(try await form(request, context)) }
        }
    }

    static func oauth(_ code: String, _ description: String, status: HTTPResponse.Status = .badRequest) -> AppError {
        AppError(status: status, code: code, detail: description)
    }

    func form(_ request: Request, _ context: VaultContext) async throws -> [String: String] {
        guard let type = request.headers[.contentType], Request.mediaType(type) == "application/x-www-form-urlencoded" else {
            throw Self.oauth("invalid_request", "The body must be application/x-www-form-urlencoded")
        }
        return try await request.decodeForm(context: context)
    }

    /// The calling client, by client_secret_basic or client_secret_post; a public client
    /// names itself and proves nothing (PKCE does that for it). A client registered for
    /// `client_secret_basic` must use it; one registered for `client_secret_post` may
    /// also use Basic, which RFC 6749 §2.3.1 obliges every server to accept. A refusal
    /// after Basic carries `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    func authenticateClient(_ request: Request, form: [String: String], tenant: String) async throws -> Client {
        var id = form["client_id"]
        var secret = form["client_secret"]
        var usedBasic = false
        if let header = request.headers[.authorization], let credentials = Self.basicCredentials(header) {
            guard let (basicID, basicSecret) = credentials else {
                throw Self.invalidClient("Malformed Basic credentials", basic: true)
            }
            (id, secret, usedBasic) = (basicID, basicSecret, true)
        }
        guard let id, !id.isEmpty, id.count <= 128 else { throw Self.invalidClient("client_id is missing", basic: usedBasic) }
        guard let client = try await vault.clients.cached(tenant: tenant, id: id) else {
            throw Self.invalidClient("Client authentication failed", basic: usedBasic)
        }
        switch client.type {
        case .confidential:
            guard let secret, client.verify(secret: secret) else {
                throw Self.invalidClient("Client authentication failed", basic: usedBasic)
            }
            if client.authMethod == .clientSecretBasic, !usedBasic {
                throw Self.invalidClient("This client authenticates with client_secret_basic", basic: true)
            }
        case .public:
            guard secret == nil || secret == "" else { throw Self.invalidClient("A public client has no secret", basic: usedBasic) }
        }
        if client.isLocked { throw Self.oauth("unauthorized_client", "The client is locked") }
        return client
    }

    static func invalidClient(_ description: String, basic: Bool) -> AppError {
        AppError(
            status: .unauthorized, code: "invalid_client", detail: description,
            headers: basic ? [.wwwAuthenticate: #"Basic realm="oidc-vault", charset="UTF-8""#] : [:])
    }

    /// `Authorization: Basic …`: nil when the scheme is another; `.some(nil)` when it is
    /// Basic but unreadable. Both halves are form-encoded (RFC 6749 §2.3.1).
    static func basicCredentials(_ header: String) -> (String, String)?? {
        let utf8 = header.utf8
        guard utf8.count > 6, utf8.prefix(5).map({ $0 | 0x20 }) == Array("basic".utf8), utf8.dropFirst(5).first == UInt8(ascii: " ") else {
            return nil
        }
        let encoded = Substring(utf8.dropFirst(6)).drop { $0 == " " }
        guard let decoded = Base64URL.decode(encoded), let colon = decoded.firstIndex(of: UInt8(ascii: ":")),
            let id = percentDecoded(decoded[..<colon]), let secret = percentDecoded(decoded[decoded.index(after: colon)...])
        else { return .some(nil) }
        return .some((id, secret))
    }

    private static func percentDecoded(_ bytes: Data) -> String? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        return text.contains("%") ? text.removingPercentEncoding : text
    }

    func token(_ request: Request, _ context: VaultContext, tenant pathTenant: String?) async throws -> Response {
        let form = try await form(request, context)
        // The root endpoint without `tenant_id` is the default tenant as the root discovery
        // presents it: its tokens carry the root issuer.
        let atRoot = pathTenant == nil && form["tenant_id"] == nil
        guard let tenant = pathTenant ?? form["tenant_id"] ?? (atRoot ? vault.settings.defaultTenant : nil), !tenant.isEmpty else {
            throw Self.oauth("invalid_request", "tenant_id is required")
        }
        let client = try await authenticateClient(request, form: form, tenant: tenant)
        let issuer = vault.issuers.issuer(tenant, atRoot: atRoot)
        let body: JSONValue
        switch form["grant_type"] {
        case "client_credentials": body = try await clientCredentials(client, form, issuer: issuer)
        case "authorization_code": body = try await authorizationCode(client, form, request, context, issuer: issuer)
        case "refresh_token": body = try await refresh(client, form, issuer: issuer)
        case Self.tokenExchange: body = try await exchange(client, form, issuer: issuer)
        case nil: throw Self.oauth("invalid_request", "grant_type is required")
        case let other?: throw Self.oauth("unsupported_grant_type", "grant_type \(other) is not supported")
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store", HTTPField.Name("Pragma")!: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(body))))
    }

    /// The requested scopes, each allowed to the client; `fallback` when none is asked.
    func scopes(_ requested: String?, allowed: Set<String>, fallback: [String]) throws(AppError) -> String {
        guard let requested, !requested.isEmpty else { return fallback.joined(separator: " ") }
        let list = requested.split(separator: " ").map(String.init)
        if let refused = list.first(where: { !allowed.contains($0) }) { throw Self.oauth("invalid_scope", "Scope '\(refused)' is not allowed") }
        return list.joined(separator: " ")
    }

    func clientCredentials(_ client: Client, _ form: [String: String], issuer: String) async throws -> JSONValue {
        guard client.type == .confidential else { throw Self.oauth("unauthorized_client", "A public client cannot use client_credentials") }
        let scope = try scopes(form["scope"], allowed: client.allowedScopes, fallback: client.allowedScopes.subtracting(["openid", "offline_access"]).sorted())
        let (access, expiresIn) = try await vault.issuer.accessToken(.init(tenant: client.tenant, issuer: issuer, client: client, scope: scope))
        return ["access_token": .string(access), "token_type": "Bearer", "expires_in": .number(Double(expiresIn)), "scope": .string(scope)]
    }

    func authorizationCode(
        _ client: Client, _ form: [String: String], _ request: Request, _ context: VaultContext, issuer: String
    ) async throws -> JSONValue {
        guard let code = form["code"], code.count <= 128 else { throw Self.oauth("invalid_request", "code is required") }
        let hash = sha256(code)
        guard let grant = try await vault.grants.redeemCode(hash: hash, tenant: client.tenant, client: client.id) else {
            // A code presented twice is a sign of theft (RFC 6749 §4.1.2): revoke every
            // token it gave. Its session ends, which kills its refresh tokens here and its
            // access tokens wherever they are checked (every check reads the session).
            try await vault.sessions.revokeGrant(ofCode: ByteBuffer(bytes: hash))
            throw Self.oauth("invalid_grant", "The code is invalid, expired or already used")
        }
        let (userID, session, scope, authTime) = (grant.userID, grant.session, grant.scope, grant.authTime)
        guard form["redirect_uri"] == grant.redirectURI else { throw Self.oauth("invalid_grant", "redirect_uri does not match the authorization request") }
        if let challenge = grant.codeChallenge {
            guard let verifier = form["code_verifier"], (43...128).contains(verifier.count) else {
                throw Self.oauth("invalid_grant", "code_verifier is required")
            }
            let computed = Base64URL.encode(sha256(verifier))
            guard constantTimeEquals(Array(computed.utf8), Array(challenge.utf8)) else {
                throw Self.oauth("invalid_grant", "code_verifier does not match the code_challenge")
            }
        } else if form["code_verifier"] != nil {
            throw Self.oauth("invalid_grant", "No code_challenge was sent with the authorization request")
        }
        guard let user = try await vault.users.find(tenant: client.tenant, id: userID), !user.isDisabled else {
            throw Self.oauth("invalid_grant", "The user is disabled or gone")
        }
        // A new family: its first refresh token is random, the ones after it derived.
        let refresh = Base64URL.encode(SecureRandom.bytes(32))
        try await vault.grants.startFamily(
            refreshHash: sha256(refresh), tenant: client.tenant, client: client.id, userID: user.id, session: session, scope: scope,
            authTime: authTime, lifetimeSeconds: vault.settings.refreshTokenTTL,
            issue: CanonicalJSON.string(AccessInfo.block(request, context: context)))
        let tokenUser = TokenUser(
            id: user.id, username: user.username, email: user.email, emailVerified: user.isVerified, externalID: user.externalID)
        return try await tokens(
            for: client, user: tokenUser, session: session, scope: scope, authTime: authTime, refresh: refresh, nonce: grant.nonce, issuer: issuer)
    }

    /// The token that follows `token` in its family: HMAC of it under the at-rest key. The
    /// first of a family is random; each next one is unpredictable without the server's key,
    /// and a second use within the grace gets the same successor without storing it.
    static func successor(of token: String, key: SymmetricKey) -> String {
        Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(("oidc-vault refresh successor\u{0}" + token).utf8), using: key)))
    }

    /// Rotation: each refresh token works once and names its successor. A second use within
    /// the grace (two tabs refreshing at once) gets the same successor; later, it is taken
    /// as a stolen token and the whole family is revoked.
    func refresh(_ client: Client, _ form: [String: String], issuer: String) async throws -> JSONValue {
        guard let token = form["refresh_token"], token.count <= 128 else { throw Self.oauth("invalid_request", "refresh_token is required") }
        let tokenHash = sha256(token)
        let next = Self.successor(of: token, key: vault.settings.atRestKey)
        // One statement claims the token: of two parallel uses, one rotates it.
        let rotation = RotateRefreshToken(
            tokenHash: tokenHash, successorHash: sha256(next), tenant: client.tenant, client: client.id,
            lifetimeSeconds: Double(vault.settings.refreshTokenTTL))
        if let row = try await vault.grants.rotate(rotation) {
            guard row.issued, let userID = row.userID else { throw Self.oauth("invalid_grant", "The session has ended") }
            guard !row.userDisabled, let username = row.username, let email = row.email else {
                throw Self.oauth("invalid_grant", "The user is disabled or gone")
            }
            let user = TokenUser(id: userID, username: username, email: email, emailVerified: row.emailVerified)
            return try await tokens(
                for: client, user: user, session: row.sessionID, scope: row.scope, authTime: row.authTime, refresh: next, issuer: issuer)
        }
        // Not claimable: spent, revoked, expired or unknown.
        if let spent = try await vault.grants.spentRefresh(
            hash: tokenHash, tenant: client.tenant, client: client.id, graceSeconds: vault.settings.refreshReuseGrace)
        {
            let (family, session, scope, authTime) = (spent.family, spent.session, spent.scope, spent.authTime)
            if spent.inGrace, spent.alive, let userID = spent.userID {
                guard let found = try await vault.users.find(tenant: client.tenant, id: userID), !found.isDisabled else {
                    throw Self.oauth("invalid_grant", "The user is disabled or gone")
                }
                let user = TokenUser(
                    id: found.id, username: found.username, email: found.email, emailVerified: found.isVerified, externalID: found.externalID)
                return try await tokens(
                    for: client, user: user, session: session, scope: scope, authTime: authTime, refresh: next, issuer: issuer)
            }
            // The whole grant goes: the family's refresh tokens and, through its session,
            // every access token it gave.
            try await vault.sessions.revokeGrant(family: family)
            vault.logger.warning("refresh token reused; family revoked", metadata: ["client": "\(client.id)", "family": "\(family)"])
        }
        throw Self.oauth("invalid_grant", "The refresh token is invalid, expired or already used")
    }

    struct TokenUser {
        let id: String
        let username: String
        let email: String
        let emailVerified: Bool
        /// The user's id in the system that provisioned it (User&Identity's, flow 4): the
        /// ID token's `external_id`, so that system links the login to its own account.
        var externalID: String? = nil
    }

    /// Access token, ID token (with `openid`) and the given refresh token.
    private func tokens(
        for client: Client, user: TokenUser, session: UUID?, scope: String, authTime: Date?, refresh: String, nonce: String? = nil,
        issuer: String
    ) async throws -> JSONValue {
        let subject = TokenIssuer.Subject(
            tenant: client.tenant, issuer: issuer, client: client, userID: user.id, username: user.username, email: user.email,
            emailVerified: user.emailVerified, externalID: user.externalID, scope: scope, sessionID: session?.uuidString.lowercased(),
            authTime: authTime.map { Int($0.timeIntervalSince1970) }, nonce: nonce)
        let (access, expiresIn) = try await vault.issuer.accessToken(subject)
        var body: [String: JSONValue] = [
            "access_token": .string(access), "token_type": "Bearer", "expires_in": .number(Double(expiresIn)),
            "refresh_token": .string(refresh), "scope": .string(scope),
        ]
        if scope.split(separator: " ").contains("openid") {
            body["id_token"] = .string(try await vault.issuer.idToken(subject, accessToken: access))
        }
        return .object(body)
    }

    /// RFC 8693: a confidential client trades a user's access token for one addressed to
    /// itself (or to another client of the tenant, `audience`), with no more scope.
    func exchange(_ client: Client, _ form: [String: String], issuer: String) async throws -> JSONValue {
        guard client.type == .confidential else { throw Self.oauth("unauthorized_client", "A public client cannot exchange tokens") }
        guard let subjectToken = form["subject_token"] else { throw Self.oauth("invalid_request", "subject_token is required") }
        guard form["subject_token_type"] == Self.accessTokenType else {
            throw Self.oauth("invalid_request", "subject_token_type must be \(Self.accessTokenType)")
        }
        if let requested = form["requested_token_type"], requested != Self.accessTokenType {
            throw Self.oauth("invalid_request", "Only access tokens are issued")
        }
        // RFC 8693 §2.2.2: a subject_token that is not valid is an invalid_request.
        let subject: AccessToken
        do {
            subject = try await vault.tokens.accessToken(subjectToken)
        } catch let error as AppError where error.status == .unauthorized {
            throw Self.oauth("invalid_request", "subject_token is invalid")
        }
        guard subject.tenant == client.tenant else { throw Self.oauth("invalid_request", "subject_token is of another tenant") }
        var target = client
        if let audience = form["audience"], audience != client.id {
            guard let other = try await vault.clients.cached(tenant: client.tenant, id: audience) else {
                throw Self.oauth("invalid_target", "Unknown audience")
            }
            target = other
        }
        let held = Set(subject.scope.split(separator: " ").map(String.init))
        let scope = try scopes(form["scope"], allowed: held.intersection(target.allowedScopes), fallback: held.intersection(target.allowedScopes).sorted())
        var user: VaultUser?
        if let userID = subject.userID { user = try await vault.users.find(tenant: client.tenant, id: userID) }
        let (access, expiresIn) = try await vault.issuer.accessToken(.init(
            tenant: client.tenant, issuer: issuer, client: target, userID: subject.userID, username: user?.username, email: user?.email,
            scope: scope, sessionID: subject.sessionID, actor: client.id))
        return [
            "access_token": .string(access), "issued_token_type": .string(Self.accessTokenType), "token_type": "Bearer",
            "expires_in": .number(Double(expiresIn)), "scope": .string(scope),
        ]
    }

    func userinfo(_ request: Request, _ context: VaultContext, tenant: String) async throws -> Response {
        var token = request.headers[.authorization].flatMap { AuthorizationHeader.token($0, allowBare: false) }
        if token == nil, request.method == .post, let type = request.headers[.contentType],
            Request.mediaType(type) == "application/x-www-form-urlencoded"
        {
            token = try await request.decodeForm(context: context)["access_token"]
        }
        guard let token else { throw TokenVerifier.invalid("A bearer token is required") }
        let access = try await vault.tokens.accessToken(token, tenant: tenant)
        guard let userID = access.userID, access.scopes.contains("openid") else {
            throw AppError(status: .forbidden, code: "insufficient_scope", detail: "The token has no openid scope",
                           headers: [.wwwAuthenticate: #"Bearer error="insufficient_scope", scope="openid""#])
        }
        guard let user = try await vault.users.find(tenant: access.tenant, id: userID), !user.isDisabled else {
            throw TokenVerifier.invalid()
        }
        var claims: [String: JSONValue] = ["sub": .string(user.id)]
        if access.scopes.contains("profile") {
            claims["preferred_username"] = .string(user.username)
            claims["name"] = .string(user.username)
            if let locale = user.locale { claims["locale"] = .string(locale) }
            claims["updated_at"] = .number(user.updatedAt.timeIntervalSince1970.rounded(.down))
        }
        if access.scopes.contains("email") {
            claims["email"] = .string(user.email)
            claims["email_verified"] = .bool(user.isVerified)
        }
        return .json(.object(claims))
    }

    func introspect(_ request: Request, _ context: VaultContext, tenant pathTenant: String?) async throws -> Response {
        let form = try await form(request, context)
        var tenant = vault.settings.defaultTenant
        if let pathTenant {
            tenant = pathTenant
        } else if let named = form["tenant_id"] {
            tenant = named
        } else if let claims = try? await vault.tokens.claims(form["token"] ?? "", allowExpired: true), let named = claims["tenant_id"]?.stringValue {
            tenant = named
        }
        let client = try await authenticateClient(request, form: form, tenant: tenant)
        guard client.type == .confidential else { throw Self.oauth("unauthorized_client", "Only confidential clients may introspect") }
        guard let token = form["token"], !token.isEmpty else { throw Self.oauth("invalid_request", "token is required") }
        let inactive: JSONValue = ["active": false]
        if token.contains(".") {
            guard let access = try? await vault.tokens.accessToken(token), access.tenant == client.tenant else { return .json(inactive) }
            var claims = access.claims.objectValue ?? [:]
            claims["active"] = true
            claims["token_type"] = "Bearer"
            if let userID = access.userID, let user = try await vault.users.find(tenant: access.tenant, id: userID) {
                guard !user.isDisabled else { return .json(inactive) }
                claims["username"] = .string(user.username)
                // A resource server finds its own record of the user by address, when the
                // user let the client see it (RFC 7662 allows further members).
                if claims["scope"]?.stringValue?.split(separator: " ").contains("email") == true {
                    claims["email"] = .string(user.email)
                }
            }
            return .json(.object(claims))
        }
        if let (clientID, userID, scope, exp, iat) = try await vault.grants.activeRefresh(hash: sha256(token), tenant: client.tenant) {
            return .json([
                "active": true, "client_id": .string(clientID), "sub": userID.map { .string($0) } ?? .string(clientID),
                "scope": .string(scope), "exp": .number(Double(exp)), "iat": .number(Double(iat)), "token_type": "refresh_token",
                "iss": .string(vault.issuers.issuer(client.tenant)),
            ])
        }
        return .json(inactive)
    }

    /// RFC 7009: always 200 for an authenticated client, whether or not the token was
    /// anything; only the client's own tokens are affected.
    func revoke(_ request: Request, _ context: VaultContext, tenant pathTenant: String?) async throws -> Response {
        let form = try await form(request, context)
        guard let token = form["token"], !token.isEmpty else { throw Self.oauth("invalid_request", "token is required") }
        let claims = try? await vault.tokens.claims(token, allowExpired: true)
        let tenant = pathTenant ?? form["tenant_id"] ?? claims?["tenant_id"]?.stringValue ?? vault.settings.defaultTenant
        let client = try await authenticateClient(request, form: form, tenant: tenant)
        if let claims, let jti = claims["jti"]?.stringValue, claims["client_id"]?.stringValue == client.id, let exp = claims["exp"]?.intValue {
            try await vault.grants.revokeAccessToken(jti: jti, expiresAt: exp)
        } else {
            try await vault.grants.revokeRefreshFamily(hash: sha256(token), tenant: client.tenant, client: client.id)
        }
        return Response(status: .ok, headers: [.cacheControl: "no-store"])
    }

    /// RP-initiated logout: ends the session the ID token names; returns to
    /// `post_logout_redirect_uri` only when the client registered it.
    func logout(_ values: [String: String]) async throws -> Response {
        guard let hint = values["id_token_hint"], !hint.isEmpty else {
            throw AppError.validation("id_token_hint", "Field required", type: "missing", location: "query")
        }
        let claims: JSONValue
        do {
            claims = try await vault.tokens.claims(hint, type: "JWT", allowExpired: true)
        } catch {
            throw VaultError.badRequest("id_token_hint is not an ID token of this server")
        }
        guard let tenant = claims["tenant_id"]?.stringValue, let audience = claims["aud"]?.stringValue else {
            throw VaultError.badRequest("id_token_hint is not an ID token of this server")
        }
        if let clientID = values["client_id"], clientID != audience {
            throw VaultError.badRequest("client_id does not match the ID token")
        }
        // Everything is checked before anything changes: a refused logout logs nobody out.
        if let target = values["post_logout_redirect_uri"] {
            guard let client = try await vault.clients.find(tenant: tenant, id: audience), client.postLogoutRedirectURIs.contains(target) else {
                throw VaultError.badRequest("post_logout_redirect_uri is not registered for this client")
            }
        }
        if let sid = claims["sid"]?.stringValue, let session = UUID(uuidString: sid) {
            _ = try await vault.sessions.revoke(session, tenant: tenant, userID: claims["sub"]?.stringValue)
        }
        if let target = values["post_logout_redirect_uri"] {
            return try AuthorizeRoutes.redirect(target, [("state", values["state"])])
        }
        return .null()
    }
}
