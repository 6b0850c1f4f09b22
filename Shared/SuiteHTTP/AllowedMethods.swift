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

    /// The methods the route at `path` accepts, empty when no route has that path. Where
    /// patterns overlap (`/clients/public` and `/clients/:client_id`) the router walks to
    /// the static segment first, so only the most specific patterns count.
    public func methods(for path: String) -> Set<String> {
        let segments = path.split(separator: "/")
        return routes.withLock { routes in
            var best: [Bool]?
            var found = Set<String>()
            for route in routes where Self.matches(route.segments, segments) {
                let key = route.segments.map { !Self.isParameter($0) }
                if let current = best {
                    if Self.isMoreSpecific(current, than: key) { continue }
                    if Self.isMoreSpecific(key, than: current) {
                        found = []
                        best = key
                    }
                } else {
                    best = key
                }
                found.formUnion(route.methods)
            }
            return found
        }
    }

    /// At the first position where they differ, `a` has a static segment and `b` a parameter.
    static func isMoreSpecific(_ a: [Bool], than b: [Bool]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return x }
        return false
    }

    public static func isParameter(_ part: Substring) -> Bool {
        (part.hasPrefix("{") && part.hasSuffix("}")) || part == "*" || part.hasPrefix(":") || part == "**"
    }

    static func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        var index = 0
        for (position, part) in pattern.enumerated() {
            if part == "**" { return true }
            guard index < path.count else { return false }
            if !Self.isParameter(part) && part != path[index] { return false }
            index += 1
            if position == pattern.count - 1 { return index == path.count }
        }
        return pattern.isEmpty && path.isEmpty
    }
}
