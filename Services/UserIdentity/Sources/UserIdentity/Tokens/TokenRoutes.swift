import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP

/// Login, refresh, token info and the public keys.
struct TokenRoutes {
    let core: Core

    static let loginByAddress = RateLimit(name: "authentications-ip", limit: 30, windowSeconds: 60)
    static let loginByEmail = RateLimit(name: "authentications-email", limit: 10, windowSeconds: 300)
    static let loginsHelp = "Password logins by outcome: success or the seed's reason of the refusal"

    struct Login: Decodable {
        var email: String?
        var password: String?
        var login_context: String?
    }

    func add(to router: Router<UAIContext>, access: RouteAccess) {
        // The credentials are the body: a password, a refresh token.
        access.open(router) {
            router.post("/authentications") { request, context in try await login(request, context) }
            router.post("/authentications/me/refresh") { request, _ in try await refresh(request) }
            router.get("/.well-known/jwks.json") { _, _ in
                var response = try Response.json(core.tokens.jwks)
                response.headers[.cacheControl] = "public, max-age=300"
                return response
            }
        }
        router.get("/me") { request, _ -> TokenInfo in
            guard let token = Core.token(request) else { throw Problem.missingToken }
            let (header, claims) = try core.tokens.verify(token, audience: nil)
            return TokenInfo(jwt: .init(header: header, payload: claims))
        }
    }

    struct TokenInfo: ResponseEncodable {
        struct JWT: Encodable {
            var header: JSONValue
            var payload: UserClaims
        }

        var jwt: JWT
    }

    /// The seed's checks, in its order: the form of the email and password (both may
    /// show at once), then the account (exactly one reason), then the password.
    func login(_ request: Request, _ context: UAIContext) async throws -> Response {
        let input = try await request.decodeJSON(as: Login.self, context: context)
        var validator = Validator()
        let email = validator.email(input.email)
        let password = validator.password(input.password)
        try validator.checkSeed()
        guard let email, let password else { throw Problem.unprocessable(validator.messages) }

        try await core.rateLimiter.enforce([
            (Self.loginByAddress, request.clientAddress(context: context)), (Self.loginByEmail, email),
        ])
        // Every outcome is counted (`uai_logins_total{outcome}`), a refusal by its reason.
        func refuse(_ field: String, _ reason: String, _ message: String) -> AppError {
            core.metrics.count("uai_logins_total", help: Self.loginsHelp, labels: [("outcome", reason)])
            return Problem.invalid(field, reason, message)
        }
        guard let user = try await core.users.find(email: email) else {
            throw refuse("email", "userNotExists", "This user does not exist")
        }
        if user.prototype { throw refuse("email", "userIsPrototype", "User is a prototype") }
        guard let hash = user.passwordHash else {
            throw refuse("email", "authenticationMethodNotSupported", "The authentication method provided cannot be used by this user")
        }
        if !user.isEnabled { throw refuse("email", "userIsDisabled", "User is Disabled") }
        guard try await core.passwords.verify(password, hash: hash) else {
            context.logger.notice("login refused: wrong password", metadata: ["user_id": "\(user.idString)"])
            throw refuse("password", "invalidPassword", "The password is invalid")
        }
        let pair = try await core.issue(
            for: user, family: nil, impersonator: nil, markAuthenticated: true,
            event: ("UserWasAuthenticated", ["userId": .string(user.idString)]))
        core.metrics.count("uai_logins_total", help: Self.loginsHelp, labels: [("outcome", "success")])
        context.logger.info("login", metadata: ["user_id": "\(user.idString)"])
        return try Response.json(pair, status: .created)
    }


    /// Rotation: a refresh token works once. Presenting one that was already used means
    /// it was copied, so every token of its family is revoked and the caller must log
    /// in again (RFC 9700 §4.14.2).
    func refresh(_ request: Request) async throws -> Response {
        guard let token = Core.token(request) else { throw Problem.missingToken }
        let claims = try core.tokens.verify(token, audience: .refresh).claims
        guard let id = UUID(uuidString: claims.jti) else { throw Problem.unauthenticated("unknown refresh token") }
        guard let (family, userID, impersonator) = try await core.refreshTokens.use(id) else {
            if try await core.refreshTokens.revokeFamily(ofUsed: id) > 0 {
                core.logger.warning("refresh token reused; family revoked", metadata: ["user_id": "\(claims.user_id)"])
            }
            throw Problem.unauthenticated("refresh token already used or revoked")
        }
        guard let user = try await core.users.find(id: userID), user.isEnabled, !user.prototype else {
            throw Problem.unauthenticated("the account is disabled")
        }
        // Roles come from the database, so a refresh picks up a role change.
        let pair = try await core.issue(for: user, family: family, impersonator: impersonator, markAuthenticated: false)
        return try Response.json(pair, status: .created)
    }
}
