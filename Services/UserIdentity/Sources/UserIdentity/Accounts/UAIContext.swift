import Hummingbird
public import SuiteHTTP
import SuiteCore
import SuiteSigning

/// The request context of user-identity: the access token's claims `UserAuthenticator`
/// verified for a route of the signed-in group.
public typealias UAIContext = AuthenticatedContext<UserClaims>

extension AuthenticatedContext where Identity == UserClaims {
    /// The signed-in caller (a route without one is a wiring mistake, and refuses).
    func caller() throws(AppError) -> UserClaims {
        guard let identity else { throw Problem.missingToken }
        return identity
    }
}

/// Refuses a request of the signed-in group without a valid access token of ours (401,
/// in the seed's problem shape) before any handler reads it; what the caller may do
/// (roles, read from PostgreSQL) each handler asks with `Core.caller(_:anyOf:)`.
struct UserAuthenticator: RouterMiddleware {
    typealias Context = UAIContext
    let tokens: UserTokens

    func handle(_ request: Request, context: UAIContext, next: (Request, UAIContext) async throws -> Response) async throws -> Response {
        guard let token = Core.token(request) else { throw Problem.missingToken }
        var context = context
        context.identity = try tokens.verify(token, audience: .access).claims
        return try await next(request, context)
    }
}
