import Foundation
import SuiteSigning
import NIOHTTP1
public import SuiteCore
public import SuiteHTTP

/// Walks every closed route of a running service as a caller without credentials, and
/// as one with a forged bearer token, as an attacker would: each must refuse (401 or
/// 403) before it reads anything else of the request. Path parameters get a fresh
/// UUID; requests with a body send `body` as JSON, or an empty form to the routes in
/// `formEncoded` (OAuth's introspection, for instance).
public enum RouteWalk {
    /// The routes that did not refuse, each with what it answered.
    public static func closedRoutesThatLetIn(
        _ routes: [RouteEntry], baseURL: String, body: JSONValue = [:], formEncoded: Set<String> = []
    ) async throws -> [String] {
        var letIn: [String] = []
        for route in routes where !route.isPublic {
            let path = route.path.split(separator: "/", omittingEmptySubsequences: false).map { part in
                AllowedMethods.isParameter(part) ? UUID().uuidString.lowercased() : String(part)
            }.joined(separator: "/")
            let method = HTTPMethod(rawValue: route.method)
            let hasBody = [.POST, .PUT, .PATCH].contains(method)
            for (label, token) in [("no credentials", nil), ("a forged token", Self.forgedToken)] as [(String, String?)] {
                let answer: TestResponse
                if formEncoded.contains(route.description) {
                    var headers = [("Content-Type", "application/x-www-form-urlencoded")]
                    if let token { headers.append(("Authorization", "Bearer \(token)")) }
                    answer = try await send(method, baseURL + path, headers: headers, body: [])
                } else {
                    answer = try await send(method, baseURL + path, json: hasBody ? body : nil, token: token)
                }
                if answer.status != 401 && answer.status != 403 {
                    letIn.append("\(route) with \(label): \(answer.status) \(answer.text.prefix(120))")
                }
            }
        }
        return letIn
    }

    /// A well-formed JWT signed by nobody the services know.
    static let forgedToken: String = {
        let signer = CompactJWS(key: .eddsa(.generate()))
        let now = Int(Date().timeIntervalSince1970)
        let claims: JSONValue = [
            "iss": "mallory", "sub": "mallory", "aud": "anyone", "iat": .number(Double(now)), "exp": .number(Double(now + 600)),
            "scope": "openid rooms:list rooms:create", "roles": ["uai_admin"],
        ]
        return signer.sign(payload: Data(CanonicalJSON.bytes(claims)))
    }()
}
