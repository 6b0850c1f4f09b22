import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP

/// Prototype users (created by an admin, no password yet) and the invitations that turn
/// them into users.
struct InvitationRoutes {
    let core: Core
    var invitations: InvitationStore { InvitationStore(database: core.database, logger: core.logger) }

    struct NewInvitation: Decodable {
        var notify: Bool?
        var callback_url: String?
    }

    struct Redemption: Decodable {
        var password: String?
    }

    struct Invitation: Encodable {
        var id: String
        var userId: String
        var createdAt: String
        var isRedeemed: Bool
        var redeemedAt: String?
        var emailSentAt: String?
        var isEmailSent: Bool
        var expiresAt: String

        enum CodingKeys: String, CodingKey {
            case id, userId, createdAt, isRedeemed, redeemedAt, emailSentAt, isEmailSent, expiresAt
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(userId, forKey: .userId)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(isRedeemed, forKey: .isRedeemed)
            try container.encode(redeemedAt, forKey: .redeemedAt)
            try container.encode(emailSentAt, forKey: .emailSentAt)
            try container.encode(isEmailSent, forKey: .isEmailSent)
            try container.encode(expiresAt, forKey: .expiresAt)
        }
    }

    func add(to router: Router<UAIContext>, access: RouteAccess) {
        // Every route but the mailed links: a valid access token of ours, or nothing is read.
        let signedIn = router.group().add(middleware: core.tokens.authenticator)
        signedIn.post("/user-prototypes") { request, context in
            let admin = try await core.caller(context, anyOf: [Role.admin])
            let input = try await request.decodeJSON(as: NewUser.self, context: context)
            let user = try User.new(from: input, prototype: true)
            try await core.transaction { connection in try await core.users.insert(user, on: connection) }
            context.logger.info("prototype created", metadata: ["user_id": "\(user.idString)", "by": "\(admin.user_id)"])
            return Core.created(core.location("/users/\(user.idString)"))
        }
        signedIn.post("/user-prototypes/:id/invitations") { request, context in try await invite(request, context) }
        signedIn.get("/invitations/:id") { request, context in try await show(request, context) }
        // The invitee's link: the invitation's id is the credential.
        access.open(router) {
            router.put("/invitations/:id/redemption") { request, context in try await redeem(request, context) }
        }
    }

    func invite(_ request: Request, _ context: UAIContext) async throws -> Response {
        let caller = try await core.caller(context, anyOf: [Role.admin, Role.userManager, Role.invitationManager])
        let userID = try core.userID(context)
        let input = try await request.decodeJSONIfPresent(as: NewInvitation.self, context: context) ?? .init()
        let notify = input.notify ?? true
        var validator = Validator()
        var callback: String?
        if notify {
            callback = validator.callback(input.callback_url, field: "callback_url", allowedHosts: core.settings.callbackHosts)
        } else if let url = input.callback_url, let problem = CallbackURL.problem(url, allowedHosts: core.settings.callbackHosts) {
            validator.messages.add("callback_url", problem.rule, problem.message)
        }
        try validator.checkSeed()
        let secret = Secret.make()
        try await core.transaction { connection in
            guard let user = try await core.users.lock(id: userID, on: connection) else { throw Problem.notFound() }
            guard user.prototype else {
                throw Problem.conflict("id", "userIsNotPrototype", "The user already has an account; there is nothing to invite to")
            }
            let expires = Date().addingTimeInterval(TimeInterval(core.settings.invitationTTL))
            var mailID: Int64?
            if let callback {
                mailID = try await core.mailer.queue(
                    .invitation, to: user,
                    values: [
                        "link": CallbackURL.link(callback, secret: secret),
                        "validity": Core.validity(core.settings.invitationTTL, locale: user.locale),
                    ], on: connection)
            }
            try await invitations.insert(idHash: Secret.digest(secret), user: userID, expires: expires, mailID: mailID, on: connection)
            try await EventStore.record(
                "InvitationWasCreated",
                ["userId": .string(user.idString), "notify": .bool(notify), "by": .string(caller.user_id)],
                on: connection, logger: core.logger)
        }
        return Core.created(core.location("/invitations/\(secret)"))
    }

    func show(_ request: Request, _ context: UAIContext) async throws -> Response {
        _ = try await core.caller(context, anyOf: [Role.admin])
        guard let id = context.parameters.get("id"), Secret.isWellFormed(id) else { throw Problem.notFound() }
        // Whether the mail went out is the outbox's word, not a guess made when queueing.
        if let (userID, created, redeemed, sent, expires) = try await invitations.find(idHash: Secret.digest(id)) {
            return try Response.json(
                Invitation(
                    id: id, userId: userID.uuidString.lowercased(), createdAt: Timestamp.iso(created),
                    isRedeemed: redeemed != nil, redeemedAt: redeemed.map(Timestamp.iso), emailSentAt: sent.map(Timestamp.iso),
                    isEmailSent: sent != nil, expiresAt: Timestamp.iso(expires))
            )
        }
        throw Problem.notFound()
    }

    /// The invitation id is the secret: whoever holds it sets the password. It works
    /// once (409 after) and not after it expires (404, like an unknown one).
    func redeem(_ request: Request, _ context: UAIContext) async throws -> Response {
        guard let id = context.parameters.get("id"), Secret.isWellFormed(id) else { throw Problem.notFound() }
        let input = try await request.decodeJSON(as: Redemption.self, context: context)
        var validator = Validator()
        let password = validator.password(input.password)
        try validator.checkSeed()
        guard let password else { throw Problem.unprocessable(validator.messages) }
        let hash = try await core.passwords.hash(password)
        let userID: UUID = try await core.transaction { connection in
            guard let (userID, redeemed, expired) = try await invitations.lock(idHash: Secret.digest(id), on: connection) else {
                throw Problem.notFound()
            }
            if redeemed { throw Problem.conflict("id", "invitationAlreadyRedeemed", "The invitation was already redeemed") }
            if expired { throw Problem.notFound("The invitation has expired") }
            guard let user = try await core.users.lock(id: userID, on: connection) else { throw Problem.notFound() }
            guard user.prototype else {
                throw Problem.conflict("id", "invitationAlreadyRedeemed", "The user already has an account")
            }
            try await invitations.redeem(idHash: Secret.digest(id), user: userID, passwordHash: hash, on: connection)
            try await EventStore.record("InvitationWasRedeemed", ["userId": .string(user.idString)], on: connection, logger: core.logger)
            return userID
        }
        context.logger.info("invitation redeemed", metadata: ["user_id": "\(userID.uuidString.lowercased())"])
        return Core.noContent(location: core.location("/users/\(userID.uuidString.lowercased())"))
    }
}
