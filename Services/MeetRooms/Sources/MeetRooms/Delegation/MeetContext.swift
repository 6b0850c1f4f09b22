import Hummingbird
public import SuiteHTTP
import SuiteSigning

/// The request context of meet-rooms: the delegation token `DelegationAuthenticator`
/// verified for a rooms request.
public typealias MeetContext = AuthenticatedContext<DelegationClaims>

extension AuthenticatedContext where Identity == DelegationClaims {
    /// The verified token's claims (a rooms route without one is a wiring mistake, and
    /// refuses rather than serves).
    func claims() throws -> DelegationClaims {
        guard let identity else { throw MeetError.invalidToken }
        return identity
    }
}

/// Refuses a rooms request that does not carry a fresh delegation token of ours (La
/// Suite Meet's 401s), before any handler reads the request; what the token allows
/// (scope, application and user standing) each handler checks with what it reads.
struct DelegationAuthenticator: RouterMiddleware {
    typealias Context = MeetContext
    let delegation: Delegation

    func handle(_ request: Request, context: MeetContext, next: (Request, MeetContext) async throws -> Response) async throws -> Response {
        var context = context
        context.identity = try delegation.claims(request)
        return try await next(request, context)
    }
}

/// What a delegation token may allow: the External API's scopes.
enum MeetScope: String, CaseIterable, Sendable {
    case roomsList = "rooms:list"
    case roomsRetrieve = "rooms:retrieve"
    case roomsCreate = "rooms:create"
    case roomsUpdate = "rooms:update"
    case roomsDelete = "rooms:delete"
}
