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

/// The context of a service that needs nothing more than the suite's own members.
public struct SuiteContext: SuiteRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    public var traceParent: String?
    public var serviceCaller: ServiceCaller?
    public var bodyLimit: Int = 1 << 20
    /// The socket peer's IP address (the gateway's, behind one).
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}
