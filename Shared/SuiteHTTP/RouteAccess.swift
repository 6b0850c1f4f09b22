public import Hummingbird
import Synchronization

/// Which routes anyone may call without credentials: exactly those a service registers
/// inside `open { }` (and the standard health, metrics, OpenAPI and JWKS routes). Every
/// other route is closed: it must refuse a caller that brings no credentials or bad
/// ones, which `SuiteTesting.RouteWalk` proves for every route of every service. So a
/// route is open only where its author said so, in one visible place.
public final class RouteAccess: Sendable {
    private let publicRoutes = Mutex<Set<String>>([])

    public init() {}

    /// Registers, with `register`, routes that need no credentials.
    public func open<Context>(_ router: Router<Context>, _ register: () throws -> Void) rethrows {
        let before = Set(router.routes.map(\.description))
        try register()
        let added = Set(router.routes.map(\.description)).subtracting(before)
        publicRoutes.withLock { $0.formUnion(added) }
    }

    /// Whether `route` (`"GET /health/live"`, as `Router.RouteDescription` prints it)
    /// was registered as public.
    public func isPublic(_ route: String) -> Bool {
        publicRoutes.withLock { $0.contains(route) }
    }
}

/// One route of a built service, for the tests that walk them all.
public struct RouteEntry: Sendable, CustomStringConvertible {
    public let method: String
    /// The router's pattern: `/rooms/:id`, `/pubkey/{keyId}`.
    public let path: String
    public let isPublic: Bool

    public var description: String { "\(method) \(path)" }
}
