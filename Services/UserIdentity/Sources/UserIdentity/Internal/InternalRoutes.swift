import Foundation
import Hummingbird
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
}
