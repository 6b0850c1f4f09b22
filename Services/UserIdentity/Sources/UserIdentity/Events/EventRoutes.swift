import Hummingbird
import SuiteCore
import SuiteHTTP

/// `GET /event-store/{from}/{to}`: for admins, and for peers with a service token
/// scoped `events:read` (projections in other services).
struct EventRoutes {
    let core: Core

    struct Page: Encodable {
        var events: [EventStore.Event]
    }

    func add(to router: Router<UAIContext>) {
        router.get("/event-store/:from/:to") { request, context -> Response in
            try await authorize(request)
            guard let from = context.parameters.get("from").flatMap(Int64.init), let to = context.parameters.get("to").flatMap(Int64.init),
                from >= 0, to >= 0
            else {
                throw AppError(
                    status: .badRequest, code: "invalid_range", title: "Bad Request",
                    detail: "fromEventId and toEventId must be whole numbers")
            }
            // typeName=A,B or typeName=A&typeName=B; a namespaced name (Sah\Domain\User\X) counts as X.
            let types = request.uri.queryParameters.getAll("typeName")
                .flatMap { $0.split(separator: ",") }
                .map { String($0.split(separator: "\\").last ?? "").trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            // A name with a NUL byte names no event (PostgreSQL text cannot hold one): it
            // matches nothing rather than failing the query.
            let storable = types.filter { !$0.utf8.contains(0) }
            if storable.isEmpty, !types.isEmpty { return try Response.json(Page(events: [])) }
            let events = try await EventStore.events(from: from, to: to, types: storable, database: core.database, logger: core.logger)
            return try Response.json(Page(events: events))
        }
    }

    private func authorize(_ request: Request) async throws {
        guard let token = Core.token(request) else { throw Problem.missingToken }
        let userError: AppError
        do throws(AppError) {
            let claims = try core.tokens.verify(token, audience: .access).claims
            guard claims.roles.contains(Role.admin) else { throw Problem.forbidden("The event store is for uai_admin") }
            return
        } catch {
            if error.status == .forbidden { throw error }
            userError = error
        }
        // Not a user token of ours: perhaps a peer's service token.
        guard let caller = try? await core.serviceTokens.verify(token) else { throw userError }
        guard caller.has(scope: "events:read") else {
            throw Problem.forbidden("The service token of \(caller.service) lacks the scope 'events:read'")
        }
    }
}
