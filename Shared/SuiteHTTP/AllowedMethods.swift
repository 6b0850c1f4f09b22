public import Hummingbird
import Synchronization

/// The methods each route pattern accepts, so a request with a method a path does not
/// take gets 405 with `Allow` (RFC 9110 §15.5.6) rather than Hummingbird's 404. Filled
/// once all routes are registered; read only on the not-found path.
public final class AllowedMethods: Sendable {
    private let routes = Mutex<[(segments: [Substring], methods: Set<String>)]>([])

    public init() {}

    public func load<Context>(from router: Router<Context>) {
        var byPath: [String: Set<String>] = [:]
        for route in router.routes {
            byPath["\(route.path)", default: []].insert(route.method.rawValue)
        }
        // HEAD is answered wherever GET is.
        let table = byPath.map { path, methods in
            (segments: path.split(separator: "/"), methods: methods.contains("GET") ? methods.union(["HEAD"]) : methods)
        }
        routes.withLock { $0 = table }
    }

    /// The methods some route at `path` accepts, empty when no route has that path.
    public func methods(for path: String) -> Set<String> {
        let segments = path.split(separator: "/")
        return routes.withLock { routes in
            routes.reduce(into: Set<String>()) { found, route in
                if Self.matches(route.segments, segments) { found.formUnion(route.methods) }
            }
        }
    }

    static func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        var index = 0
        for (position, part) in pattern.enumerated() {
            if part == "**" { return true }
            guard index < path.count else { return false }
            let isParameter = (part.hasPrefix("{") && part.hasSuffix("}")) || part == "*" || part.hasPrefix(":")
            if !isParameter && part != path[index] { return false }
            index += 1
            if position == pattern.count - 1 { return index == path.count }
        }
        return pattern.isEmpty && path.isEmpty
    }
}
