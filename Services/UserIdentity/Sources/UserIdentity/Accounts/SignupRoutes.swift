import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP

/// Self-service sign-up with email activation.
struct SignupRoutes {
    let core: Core

    static let signupByAddress = RateLimit(name: "signup-ip", limit: 10, windowSeconds: 3_600)
    static let resendByAddress = RateLimit(name: "activation-resend-ip", limit: 10, windowSeconds: 3_600)
    static let resendByUser = RateLimit(name: "activation-resend-user", limit: 3, windowSeconds: 3_600)

    struct Signup: Decodable {
        var fullname: String?
        var email: String?
        var password: String?
        var activation_callback_url: String?
        var locale: String?
        var role: String?
    }

    struct Resend: Decodable {
        var activation_callback_url: String?
    }

    func add(to router: Router<UAIContext>, access: RouteAccess) {
        // Anyone may sign up; the activation link's id is its credential.
        access.open(router) {
            router.post("/signup") { request, context in try await signup(request, context) }
            // The one parameter name for both: the router refuses two names at one place.
            router.put("/users/activation/:id") { _, context in try await activate(context) }
            router.post("/users/activation/:id") { request, context in try await resend(request, context) }
        }
    }

    func signup(_ request: Request, _ context: UAIContext) async throws -> Response {
        let input = try await request.decodeJSON(as: Signup.self, context: context)
        var validator = Validator()
        let fullname = validator.fullname(input.fullname)
        let email = validator.email(input.email)
        let password = validator.password(input.password)
        let callback = validator.callback(
            input.activation_callback_url, field: "activation_callback_url", allowedHosts: core.settings.callbackHosts)
        let locale = validator.locale(input.locale)
        var roles: [String] = []
        if let role = input.role?.trimmingCharacters(in: .whitespaces), !role.isEmpty {
            if !core.settings.signupRoles.contains(role) {
                validator.messages.add("role", "roleNotAllowed", "The role \(role) cannot be chosen at sign-up")
            } else {
                roles = [role]
                if let email, let domain = email.split(separator: "@").last,
                    core.settings.disallowedSignupDomains[role]?.contains(String(domain)) == true
                {
                    validator.messages.add("email", "emailDomainNotAllowed", "The email \(email) cannot be a \(role)!")
                }
            }
        }
        try validator.checkSeed()
        guard let fullname, let email, let password, let callback else { throw Problem.unprocessable(validator.messages) }
        try await core.rateLimiter.enforce([(Self.signupByAddress, request.clientAddress(context: context))])

        let hash = try await core.passwords.hash(password)
        let user = User(
            id: UUID(), email: email, fullname: fullname, locale: locale, roles: roles, passwordHash: hash,
            isEnabled: false, prototype: false, createdAt: Date(), lastAuthenticationAt: nil)
        try await core.transaction { connection in
            try await core.users.insert(user, on: connection)
            try await sendActivation(to: user, callback: callback, on: connection)
        }
        context.logger.info("signed up", metadata: ["user_id": "\(user.idString)"])
        return Core.created(core.location("/users/\(user.idString)"))
    }

    /// A new activation code for `user`, replacing any earlier one, and its mail.
    private func sendActivation(to user: User, callback: String, on connection: PostgresConnection) async throws {
        let code = Secret.make()
        let expires = Date().addingTimeInterval(TimeInterval(core.settings.activationTTL))
        try await core.users.replaceActivation(codeHash: Secret.digest(code), user: user.id, expires: expires, on: connection)
        try await core.mailer.queue(
            .activation, to: user,
            values: [
                "link": CallbackURL.link(callback, secret: code),
                "validity": Core.validity(core.settings.activationTTL, locale: user.locale),
            ], on: connection)
    }

    func activate(_ context: UAIContext) async throws -> Response {
        guard let code = context.parameters.get("id"), Secret.isWellFormed(code) else { throw Problem.notFound() }
        let userID: UUID = try await core.transaction { connection in
            guard let found = try await core.users.activate(codeHash: Secret.digest(code), on: connection) else { throw Problem.notFound() }
            try await EventStore.record(
                "UserWasActivated", ["userId": .string(found.uuidString.lowercased())], on: connection, logger: core.logger)
            return found
        }
        context.logger.info("activated", metadata: ["user_id": "\(userID.uuidString.lowercased())"])
        return Core.noContent(location: core.location("/users/\(userID.uuidString.lowercased())"))
    }

    /// Only a user still waiting for activation gets a new link; anyone else is 404, so
    /// the endpoint cannot be used to mail arbitrary accounts.
    func resend(_ request: Request, _ context: UAIContext) async throws -> Response {
        let id = try core.userID(context)
        let input = try await request.decodeJSON(as: Resend.self, context: context)
        var validator = Validator()
        let callback = validator.callback(
            input.activation_callback_url, field: "activation_callback_url", allowedHosts: core.settings.callbackHosts)
        try validator.checkSeed()
        guard let callback else { throw Problem.unprocessable(validator.messages) }
        try await core.rateLimiter.enforce([
            (Self.resendByAddress, request.clientAddress(context: context)), (Self.resendByUser, id.uuidString),
        ])
        try await core.transaction { connection in
            guard let user = try await core.users.lock(id: id, on: connection) else { throw Problem.notFound() }
            guard try await core.users.awaitsActivation(id, on: connection), !user.isEnabled else { throw Problem.notFound() }
            try await sendActivation(to: user, callback: callback, on: connection)
            try await EventStore.record(
                "UserActivationWasResent", ["userId": .string(user.idString)], on: connection, logger: core.logger)
        }
        return Core.noContent()
    }
}
