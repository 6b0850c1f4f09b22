public import Hummingbird
public import SuiteSigning
import NIOCore

/// What every service's request context carries beside Hummingbird's core storage.
/// A service adds its own members (the delegated user, the tenant, …) in its own type.
public protocol SuiteRequestContext: RequestContext where Source == ApplicationRequestContextSource {
    /// The `X-Request-Id` the caller sent, or the one made for this request.
    var requestID: String { get set }
    /// The W3C `traceparent` the caller sent, if any, so internal calls continue the trace.
    var traceParent: String? { get set }
    /// The peer service that called an `/internal/` route, once its token is verified.
    var serviceCaller: ServiceCaller? { get set }
    /// The largest request body this service accepts.
    var bodyLimit: Int { get set }
    /// The socket peer's IP address (the gateway's, behind one).
    var remoteAddress: String? { get }
}

extension SuiteRequestContext {
    public var maxUploadSize: Int { bodyLimit }
}

/// The context of every service: the suite's members, and the caller its route group's
/// authenticator middleware verified, in the service's own type (meet-rooms' delegation
/// claims, user-identity's access token claims, the vault's principal). nil on public
/// routes; a handler that needs a caller and finds none refuses.
public struct AuthenticatedContext<Identity: Sendable>: SuiteRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    public var traceParent: String?
    public var serviceCaller: ServiceCaller?
    public var bodyLimit: Int = 1 << 20
    /// The socket peer's IP address (the gateway's, behind one).
    public let remoteAddress: String?
    /// Who calls, as the authenticator middleware of the route's group verified it.
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}

/// The context of a service whose callers are peers only (service tokens) or anyone.
public typealias SuiteContext = AuthenticatedContext<Never>

extension AuthenticatedContext {
    /// The caller the group's authenticator set; `missing` thrown when there is none (a
    /// route registered outside its authenticated group fails closed).
    public func identity(orThrow missing: @autoclosure () -> any Error) throws -> Identity {
        guard let identity else { throw missing() }
        return identity
    }
}

/// The authenticator middleware of a route group: sets the context's identity to what
/// `authenticate` finds in the request, or lets its error answer (a 401 in the route's
/// dialect) before any handler reads the request.
public struct Authenticate<Identity: Sendable>: RouterMiddleware {
    public typealias Context = AuthenticatedContext<Identity>
    let authenticate: @Sendable (Request, Context) async throws -> Identity

    public init(_ authenticate: @escaping @Sendable (Request, Context) async throws -> Identity) {
        self.authenticate = authenticate
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.identity = try await authenticate(request, context)
        return try await next(request, context)
    }
}
