import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP

/// Password reset by mail. Nothing here tells whether an email has an account.
struct ForgottenPasswordRoutes {
    let core: Core
    var resets: PasswordResetStore { PasswordResetStore(database: core.database, logger: core.logger) }

    static let byAddress = RateLimit(name: "forgotten-passwords-ip", limit: 10, windowSeconds: 3_600)
    static let byEmail = RateLimit(name: "forgotten-passwords-email", limit: 3, windowSeconds: 3_600)

    struct ResetRequest: Decodable {
        var email: String?
        var callback_url: String?
    }

    struct NewPassword: Decodable {
        var password: String?
    }

    struct Reset: Encodable {
        var expiration_date: String
    }

    func add(to router: Router<UAIContext>, access: RouteAccess) {
        // Anyone may ask for a reset; the mailed link's id is the credential.
        access.open(router) {
            router.post("/forgotten-passwords") { request, context in try await create(request, context) }
            router.get("/forgotten-passwords/:id") { _, context -> Response in
                let (_, expires, used) = try await find(context)
                if used { throw Problem.notFound("The link was already used") }
                return try Response.json(Reset(expiration_date: Timestamp.iso(expires)))
            }
            router.put("/forgotten-passwords/:id/password") { request, context in try await setPassword(request, context) }
        }
    }

    /// 201 whether or not the email has an account, and the same `Location` form either
    /// way. The `Location` names the request, not the secret: the secret only travels in
    /// the mail, so asking for a reset of someone else's account gives nothing to use.
    func create(_ request: Request, _ context: UAIContext) async throws -> Response {
        let input = try await request.decodeJSON(as: ResetRequest.self, context: context)
        var validator = Validator()
        let email = validator.email(input.email)
        let callback = validator.callback(input.callback_url, field: "callback_url", allowedHosts: core.settings.callbackHosts)
        try validator.checkSeed()
        guard let email, let callback else { throw Problem.unprocessable(validator.messages) }
        try await core.rateLimiter.enforce([
            (Self.byAddress, request.clientAddress(context: context)), (Self.byEmail, email),
        ])
        let requestID = UUID()
        if let user = try await core.users.find(email: email), user.isEnabled, !user.prototype, user.passwordHash != nil {
            let secret = Secret.make()
            try await core.transaction { connection in
                let expires = Date().addingTimeInterval(TimeInterval(core.settings.passwordResetTTL))
                try await resets.insert(tokenHash: Secret.digest(secret), request: requestID, user: user.id, expires: expires, on: connection)
                try await EventStore.record(
                    "UserPasswordResetWasRequested", ["userId": .string(user.idString)], on: connection, logger: core.logger)
                try await core.mailer.queue(
                    .forgottenPassword, to: user,
                    values: [
                        "link": CallbackURL.link(callback, secret: secret),
                        "validity": Core.validity(core.settings.passwordResetTTL, locale: user.locale),
                    ], on: connection)
            }
        }
        return Core.created(core.location("/forgotten-passwords/\(requestID.uuidString.lowercased())"))
    }

    private func find(_ context: UAIContext) async throws -> (UUID, Date, Bool) {
        guard let id = context.parameters.get("id"), Secret.isWellFormed(id) else { throw Problem.notFound() }
        guard let found = try await resets.find(tokenHash: Secret.digest(id)) else { throw Problem.notFound() }
        return found
    }

    /// Single use: the row is claimed with the update itself, so two parallel requests
    /// cannot both set a password. Every refresh token of the account is revoked.
    func setPassword(_ request: Request, _ context: UAIContext) async throws -> Response {
        let (_, _, used) = try await find(context)
        if used { throw Problem.conflict("id", "alreadyUsed", "This password reset was already used") }
        let input = try await request.decodeJSON(as: NewPassword.self, context: context)
        var validator = Validator()
        let password = validator.password(input.password)
        try validator.checkSeed()
        guard let password, let id = context.parameters.get("id") else { throw Problem.unprocessable(validator.messages) }
        let hash = try await core.passwords.hash(password)
        let userID: UUID = try await core.transaction { connection in
            guard let claimed = try await resets.claim(tokenHash: Secret.digest(id), on: connection) else {
                throw Problem.conflict("id", "alreadyUsed", "This password reset was already used")
            }
            try await core.users.setPassword(hash: hash, of: claimed, on: connection)
            try await core.users.revokeRefreshTokens(of: claimed, on: connection)
            try await EventStore.record(
                "PasswordWasReset", ["userId": .string(claimed.uuidString.lowercased())], on: connection, logger: core.logger)
            return claimed
        }
        context.logger.info("password reset", metadata: ["user_id": "\(userID.uuidString.lowercased())"])
        return Core.noContent()
    }
}
