public import Hummingbird
public import SuiteHTTP
import SuiteCore
import SuiteSigning

/// The request context of user-identity: the suite's members, and the access token's
/// claims `UserAuthenticator` verified for a route of the signed-in group.
public struct UAIContext: SuiteRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    public var traceParent: String?
    public var serviceCaller: ServiceCaller?
    public var bodyLimit: Int = 1 << 20
    public let remoteAddress: String?
    /// Set by `UserAuthenticator`: nil only on routes outside the signed-in group.
    var claims: UserClaims?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The signed-in caller (a route without one is a wiring mistake, and refuses).
    func caller() throws(AppError) -> UserClaims {
        guard let claims else { throw Problem.missingToken }
        return claims
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
        context.claims = try tokens.verify(token, audience: .access).claims
        return try await next(request, context)
    }
}
