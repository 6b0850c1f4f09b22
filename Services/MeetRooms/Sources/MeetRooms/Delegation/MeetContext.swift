public import Hummingbird
public import SuiteHTTP
import SuiteSigning

/// The request context of meet-rooms: the suite's members, and the delegation token
/// `DelegationAuthenticator` verified for a rooms request.
public struct MeetContext: SuiteRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    public var traceParent: String?
    public var serviceCaller: ServiceCaller?
    public var bodyLimit: Int = 1 << 20
    public let remoteAddress: String?
    /// Set by `DelegationAuthenticator` on every rooms route: nil only on public routes.
    var delegation: DelegationClaims?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The verified token's claims (a rooms route without one is a wiring mistake, and
    /// refuses rather than serves).
    func claims() throws -> DelegationClaims {
        guard let delegation else { throw MeetError.invalidToken }
        return delegation
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
        context.delegation = try delegation.claims(request)
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
