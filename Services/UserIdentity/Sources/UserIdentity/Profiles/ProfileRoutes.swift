import Foundation
import Hummingbird
import SuiteCore
import SuiteHTTP

/// `GET|PUT /profiles/me` (the caller's own) and `GET /profiles/{id}` (uai_admin,
/// uai_employee).
struct ProfileRoutes {
    let core: Core
    var profiles: ProfileStore { ProfileStore(database: core.database, logger: core.logger) }

    func add(to router: Router<UAIContext>) {
        let signedIn = router.group().add(middleware: core.tokens.authenticator)
        signedIn.get("/profiles/me") { _, context -> Response in
            guard let id = UUID(uuidString: try context.caller().user_id), let document = try await profiles.find(id) else {
                throw Problem.notFound()
            }
            return Response.json(Profile.json(document))
        }
        signedIn.put("/profiles/me") { request, context in try await save(request, context) }
        signedIn.get("/profiles/:id") { _, context -> Response in
            _ = try await core.caller(context, anyOf: [Role.admin, Role.employee])
            guard let document = try await profiles.find(try core.userID(context)) else { throw Problem.notFound() }
            return Response.json(Profile.json(document))
        }
    }

    func save(_ request: Request, _ context: UAIContext) async throws -> Response {
        let claims = try context.caller()
        guard let id = UUID(uuidString: claims.user_id) else { throw Problem.unauthenticated("the account no longer exists") }
        guard case .object(let input) = try await request.decodeJSON(as: JSONValue.self, context: context) else {
            var messages = ValidationMessages()
            messages.add("profile", "invalidType", "The body must be a JSON object")
            throw Problem.unprocessable(messages)
        }
        try await core.transaction { connection in
            guard try await core.users.lock(id: id, on: connection) != nil else { throw Problem.unauthenticated("the account no longer exists") }
            let current = try await profiles.lock(id, on: connection)
            let document = try Profile.merged(input, into: current)
            try await profiles.save(id, document: document, on: connection)
            try await EventStore.record(
                "ProfileWasUpdated", ["userId": .string(claims.user_id), "profile": .object(document)], on: connection, logger: core.logger)
        }
        return Core.noContent(location: core.location("/profiles/me"))
    }
}
