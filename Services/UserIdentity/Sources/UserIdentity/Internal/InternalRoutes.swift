import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteContracts
import SuiteHTTP

/// What peers ask of User&Identity, behind a service token.
struct InternalRoutes {
    let core: Core

    /// The contract's shape of an account (`SuiteContracts.DirectoryUser`).
    static func directoryUser(_ user: User) -> DirectoryUser {
        DirectoryUser(
            id: user.idString, email: user.email, fullname: user.fullname, roles: user.roles, isEnabled: user.isEnabled,
            prototype: user.prototype)
    }

    func add(to router: Router<UAIContext>) {
        // meet-rooms' token endpoint, with user creation on, for an email nobody has.
        router.group("/internal/users/provision")
            .add(middleware: ServiceTokenMiddleware<UAIContext>(verifier: core.serviceTokens, scope: InternalScope.usersProvision.rawValue))
            .post { request, context -> Response in
                let input = try await request.decodeJSON(as: ProvisionUser.Body.self, context: context)
                guard Validate.isEmail(input.email) else {
                    throw AppError(
                        status: .badRequest, code: "invalid_email", title: "Bad Request", detail: "email must be an email address")
                }
                let (user, created) = try await provision(Validate.normalizedEmail(input.email))
                if created {
                    context.logger.notice(
                        "provisional user created", metadata: ["user_id": "\(user.id)", "caller": "\(context.serviceCaller?.service ?? "")"])
                }
                return try Response.json(Self.directoryUser(user), status: created ? .created : .ok)
            }

        let group = router.group("/internal/users")
            .add(middleware: ServiceTokenMiddleware<UAIContext>(verifier: core.serviceTokens, scope: InternalScope.usersRead.rawValue))
        // Meet's token endpoint resolves the delegated user here (flow 1: UserByEmail).
        group.get("by-email") { request, _ -> Response in
            guard let email = request.uri.queryParameters["email"].map(String.init), Validate.isEmail(email) else {
                throw AppError(
                    status: .badRequest, code: "invalid_email", title: "Bad Request", detail: "email must be an email address")
            }
            guard let user = try await core.users.find(email: email) else { throw Problem.notFound("No user has this email") }
            return try Response.json(Self.directoryUser(user))
        }
        // Meet checks on every rooms request that the delegated user still exists and is
        // enabled (it remembers the answer for two seconds): UserByID.
        group.get(":id") { _, context -> Response in
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)), let user = try await core.users.find(id: id) else {
                throw Problem.notFound("No such user")
            }
            return try Response.json(Self.directoryUser(user))
        }
    }

    /// The account of `email`: the existing one, or a new provisional one. Two calls at
    /// once for one new address: the unique index lets one insert, the other reads it.
    func provision(_ email: String) async throws -> (User, created: Bool) {
        for _ in 0..<3 {
            if let existing = try await core.users.find(email: email) { return (existing, false) }
            let user = User(
                id: UUID(), email: email, fullname: "", locale: "en", roles: [], passwordHash: nil, isEnabled: true, prototype: true,
                createdAt: Date(), lastAuthenticationAt: nil)
            do {
                try await core.transaction { connection in try await core.users.insert(user, on: connection) }
                return (user, true)
            } catch {
                // Made meanwhile by the other call (the transaction wraps the store's 409): read it.
                let refusal = (error as? AppError) ?? ((error as? PostgresTransactionError)?.closureError as? AppError)
                guard refusal?.status == .conflict else { throw error }
            }
        }
        throw AppError(status: .conflict, code: "email_in_use", title: "Conflict", detail: "The account of this email could not be made or read.")
    }
}
