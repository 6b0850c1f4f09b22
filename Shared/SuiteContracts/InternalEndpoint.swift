import Foundation
public import Logging
public import NIOHTTP1
import SuiteCore
public import SuiteHTTP

/// What a service may do at a peer: the scope its service token carries and the peer's
/// route requires. Both sides name it from here, so they cannot drift.
public enum InternalScope: String, Sendable, CaseIterable {
    /// user-identity's user directory (`/internal/users/…`).
    case usersRead = "users:read"
    /// user-identity's provisional accounts (`/internal/users/provision`): meet-rooms makes
    /// one for an unknown delegated email when `MEET_ALLOW_USER_CREATION` is on.
    case usersProvision = "users:provision"
    /// the vault's users provisioned from user-identity (`/internal/tenants/{t}/provisioned-users/{id}`, flow 4).
    case vaultUsersProvision = "vault-users:provision"
    /// identity-associations' room invitations (`/internal/invites`).
    case invitesWrite = "invites:write"
    /// `/internal/ping` on any service.
    case ping
}

/// One `/internal/` operation: who serves it, how it is called, and the `Codable` types
/// of its request and answer, shared by caller and callee.
public protocol InternalEndpoint: Sendable {
    associatedtype Body: Encodable & Sendable = NoBody
    associatedtype Answer: Decodable & Sendable

    static var peer: SuitePeer { get }
    static var method: HTTPMethod { get }
    static var scope: InternalScope { get }
    /// The route as the callee registers it, under `/internal`.
    static var route: String { get }

    /// The path and query of this call.
    var path: String { get }
    var body: Body { get }
}

/// The body of a call that sends none (a GET).
public struct NoBody: Encodable, Sendable {}

extension InternalEndpoint where Body == NoBody {
    public var body: NoBody { NoBody() }
}

extension InternalClient {
    /// Calls `endpoint` at its peer with a service token: its answer on 2xx, nil on 404
    /// (the thing asked about does not exist), a 502 problem on any other status (the
    /// peer refused what this service should never send), 502/503 when it is down or slow.
    public func send<E: InternalEndpoint>(
        _ endpoint: E, requestID: String? = nil, traceParent: String? = nil, logger: Logger? = nil
    ) async throws -> E.Answer? {
        let json: [UInt8]? = E.Body.self == NoBody.self ? nil : Array(try JSONEncoder().encode(endpoint.body))
        let peer = E.peer.rawValue
        let answer = try await send(
            E.method, to: peer, path: endpoint.path, scope: E.scope.rawValue, json: json, requestID: requestID,
            traceParent: traceParent, logger: logger)
        switch answer.status {
        case 200..<300: return try answer.decode(E.Answer.self, peer: peer)
        case 404: return nil
        default: throw AppError.badGateway("\(peer) answered \(answer.status).")
        }
    }
}

extension String {
    /// For a query value: everything but letters and digits percent-encoded.
    var queryEncoded: String { addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }

    /// For a path segment: RFC 3986's unreserved characters stay.
    var pathEncoded: String { Percent.encode(self) }
}
