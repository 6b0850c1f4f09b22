import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// Sign-in with Google, Facebook, Apple, Erasmusu and WG-Gesucht: whoever the provider
/// vouches for gets the seed's token pair, for the account linked to that provider id,
/// or the account with that verified email (linked from then on), or a new social user.
struct SocialRoutes {
    let core: Core
    let providers: SocialProviders
    var store: SocialStore { SocialStore(database: core.database, logger: core.logger) }

    init(core: Core) {
        self.core = core
        self.providers = SocialProviders(settings: core.settings.social, http: core.http, vaultBase: core.peerURLs["oidc-vault"])
    }

    static let byAddress = RateLimit(name: "social-login-ip", limit: 30, windowSeconds: 60)

    struct Login: Decodable {
        var access_token: String?
        var credential: String?
        var code: String?
        var redirect_uri: String?
        var state: String?
        var login_context: String?
        var locale: String?
        var full_name: String?
        var id_token: String?
        var code_verifier: String?
        var nonce: String?
    }

    func add(to router: Router<UAIContext>, access: RouteAccess) {
        access.open(router) {
            router.get("/authentications/google") { request, _ in try await authorizationURL("google", request) }
            router.get("/authentications/facebook") { request, _ in try await authorizationURL("facebook", request) }
            router.post("/authentications/google") { request, context in
                try await login(request, context) { input throws -> SocialIdentity in
                    let (code, redirect) = try await codeAndRedirect("google", input)
                    return try await providers.googleCode(code, redirectURI: redirect)
                }
            }
            router.post("/authentications/facebook") { request, context in
                try await login(request, context) { input throws -> SocialIdentity in
                    let (code, redirect) = try await codeAndRedirect("facebook", input)
                    return try await providers.facebookCode(code, redirectURI: redirect)
                }
            }
            router.post("/oauth/google") { request, context in
                try await login(request, context) { try await providers.googleAccessToken(try Self.required($0.access_token, "access_token")) }
            }
            router.post("/oauth/sign-in-google") { request, context in
                try await login(request, context) { try await providers.googleIDToken(try Self.required($0.credential, "credential")) }
            }
            router.post("/oauth/facebook") { request, context in
                try await login(request, context) { try await providers.facebookAccessToken(try Self.required($0.access_token, "access_token")) }
            }
            router.post("/oauth/apple") { request, context in
                // 200, as the seed answers Apple.
                try await login(request, context, status: .ok) { try await providers.apple(try Self.required($0.access_token, "access_token")) }
            }
            router.post("/oauth/vault") { request, context in
                try await login(request, context) { input throws -> SocialIdentity in
                    if let idToken = input.id_token {
                        return try await providers.vaultIDToken(try Self.required(idToken, "id_token"), nonce: input.nonce)
                    }
                    return try await providers.vaultCode(
                        try Self.required(input.code, "code"), redirectURI: try Self.required(input.redirect_uri, "redirect_uri"),
                        verifier: input.code_verifier, nonce: input.nonce)
                }
            }
            router.post("/oauth/erasmusu") { request, context in
                try await login(request, context) { try await providers.userEndpoint("erasmusu", try Self.required($0.access_token, "access_token")) }
            }
            router.post("/oauth/wgg") { request, context in
                try await login(request, context) { try await providers.userEndpoint("wgg", try Self.required($0.access_token, "access_token")) }
            }
        }
    }

    static func required(_ value: String?, _ field: String) throws(AppError) -> String {
        guard let value, !value.isEmpty, value.utf8.count <= 8_192 else {
            throw Problem.invalid(field, "isEmpty", "Value is required and can't be empty")
        }
        return value
    }

    // MARK: The authorization-code flow

    /// The provider's authorization URL with a fresh `state`, kept (hashed) with the
    /// redirect URI it is good for.
    func authorizationURL(_ provider: String, _ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var validator = Validator()
        let redirect = validator.callback(
            query["redirect_uri"].map(String.init), field: "redirect_uri", allowedHosts: core.settings.callbackHosts)
        try validator.checkSeed()
        guard let redirect else { throw Problem.unprocessable(validator.messages) }
        let state = SecureRandom.hex(byteCount: 16)
        let base: String
        var fields: [(String, String)]
        if provider == "google" {
            let google = try providers.google()
            base = google.authorizeURL
            fields = [("client_id", google.clientID), ("response_type", "code"), ("scope", "openid email profile")]
        } else {
            let facebook = try providers.facebook()
            base = facebook.dialogURL
            fields = [("client_id", facebook.appID), ("response_type", "code"), ("scope", "public_profile,email")]
        }
        fields += [("redirect_uri", redirect), ("state", state)]
        try await store.saveState(state, provider: provider, redirect: redirect, ttl: core.settings.social.stateTTL)
        let url = base + (base.contains("?") ? "&" : "?") + TextMessageSender.form(fields)
        return Response.json(.object(["authorization_url": .string(url), "oauth2state": .string(state)]))
    }

    /// The code and redirect URI of a callback, once its `state` is one we handed out for
    /// this provider and redirect URI (spent on use).
    func codeAndRedirect(_ provider: String, _ input: Login) async throws -> (String, String) {
        let code = try Self.required(input.code, "code")
        let redirect = try Self.required(input.redirect_uri, "redirect_uri")
        let state = try Self.required(input.state, "state")
        if try await store.spendState(state, provider: provider, redirect: redirect) { return (code, redirect) }
        throw Problem.invalid("state", "stateInvalid", "The state is unknown, expired, used or for another redirect_uri")
    }

    // MARK: Accounts

    func login(
        _ request: Request, _ context: UAIContext, status: HTTPResponse.Status = .created,
        identify: (Login) async throws -> SocialIdentity
    ) async throws -> Response {
        let input = try await request.decodeJSON(as: Login.self, context: context)
        var validator = Validator()
        let locale = validator.locale(input.locale)
        if let role = input.login_context, !role.isEmpty, !core.settings.signupRoles.contains(role) {
            validator.messages.add("login_context", "roleNotAllowed", "The role \(role) cannot be chosen at sign-up")
        }
        try validator.checkSeed()
        try await core.rateLimiter.enforce([(Self.byAddress, request.clientAddress(context: context))])
        let identity = try await identify(input)
        let user = try await account(for: identity, loginContext: input.login_context, locale: locale, fullName: input.full_name)
        if user.prototype { throw Problem.invalid("email", "userIsPrototype", "User is a prototype") }
        if !user.isEnabled { throw Problem.invalid("email", "userIsDisabled", "User is Disabled") }
        let pair = try await core.issue(
            for: user, family: nil, impersonator: nil, markAuthenticated: true,
            event: ("UserWasAuthenticated", ["userId": .string(user.idString), "provider": .string(identity.provider)]))
        context.logger.info("social login", metadata: ["user_id": "\(user.idString)", "provider": "\(identity.provider)"])
        return try Response.json(pair, status: status)
    }

    /// The linked account; or the one with the provider's verified email, linked now; or a
    /// new social user (no password), linked.
    func account(for identity: SocialIdentity, loginContext: String?, locale: String, fullName: String?) async throws -> User {
        try await core.transaction { connection -> User in
            if let id = try await store.linkedUser(provider: identity.provider, subject: identity.subject, on: connection),
                let user = try await core.users.lock(id: id, on: connection)
            {
                return user
            }
            // The vault names the account it was provisioned from.
            if let id = identity.accountID, let user = try await core.users.lock(id: id, on: connection) {
                try await link(identity, to: user.id, on: connection)
                return user
            }
            guard let email = identity.email, Validate.isEmail(email) else {
                throw Problem.invalid("email", "emailRequired", "The provider did not share an email address")
            }
            if let existing = try await core.users.find(email: email) {
                // An address the provider has not verified proves nothing about who owns it.
                guard identity.emailVerified else { throw Problem.emailInUse }
                try await link(identity, to: existing.id, on: connection)
                return existing
            }
            var name = (fullName ?? identity.name ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
            if name.count < 4 || name.count > 255 { name = email }
            let role = loginContext.flatMap { $0.isEmpty ? nil : $0 }
            let user = User(
                id: UUID(), email: email, fullname: name, locale: locale, roles: role.map { [$0] } ?? [], passwordHash: nil, isEnabled: true,
                prototype: false, createdAt: Date(), lastAuthenticationAt: nil)
            try await core.users.insert(user, on: connection)
            try await link(identity, to: user.id, on: connection)
            try await EventStore.record(
                "SocialUserWasRegistered",
                [
                    "userId": .string(user.idString), "email": .string(email), "provider": .string(identity.provider),
                    "loginContext": role.map(JSONValue.string) ?? .null, "locale": .string(locale),
                ], on: connection, logger: core.logger)
            return user
        }
    }

    func link(_ identity: SocialIdentity, to user: UUID, on connection: PostgresConnection) async throws {
        try await store.link(provider: identity.provider, subject: identity.subject, to: user, on: connection)
    }
}
