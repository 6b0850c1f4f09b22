public import Foundation
public import NIOHTTP1
public import SuiteHTTP

/// A user as user-identity tells its peers about them.
public struct DirectoryUser: Codable, Sendable, Equatable {
    public var id: String
    public var email: String
    public var fullname: String
    public var roles: [String]
    public var isEnabled: Bool
    /// Made by an admin, waiting for an invitation to be redeemed.
    public var prototype: Bool

    public init(id: String, email: String, fullname: String, roles: [String], isEnabled: Bool, prototype: Bool) {
        self.id = id
        self.email = email
        self.fullname = fullname
        self.roles = roles
        self.isEnabled = isEnabled
        self.prototype = prototype
    }
}

/// `GET /internal/users/by-email?email=…` at user-identity: meet-rooms' token endpoint
/// resolves the delegated user (flow 1). nil: no account has the address.
public struct UserByEmail: InternalEndpoint {
    public typealias Answer = DirectoryUser
    public static let peer = SuitePeer.userIdentity
    public static let method = HTTPMethod.GET
    public static let scope = InternalScope.usersRead
    public static let route = "/internal/users/by-email"

    public var email: String
    public var path: String { Self.route + "?email=" + email.queryEncoded }

    public init(email: String) { self.email = email }
}

/// `GET /internal/users/{id}` at user-identity: meet-rooms checks on every rooms request
/// that the delegated user still exists and is enabled. nil: no such user.
public struct UserByID: InternalEndpoint {
    public typealias Answer = DirectoryUser
    public static let peer = SuitePeer.userIdentity
    public static let method = HTTPMethod.GET
    public static let scope = InternalScope.usersRead
    public static let route = "/internal/users/:id"

    public var id: UUID
    public var path: String { "/internal/users/" + id.uuidString.lowercased() }

    public init(id: UUID) { self.id = id }
}

/// `POST /internal/users/provision` at user-identity: the account of `email`, made when
/// none exists as an enabled, password-less prototype ("provisional": it may be acted
/// for, and becomes a full account when its owner signs up or is invited). Idempotent:
/// concurrent calls for one address make one account.
public struct ProvisionUser: InternalEndpoint {
    public typealias Answer = DirectoryUser
    public static let peer = SuitePeer.userIdentity
    public static let method = HTTPMethod.POST
    public static let scope = InternalScope.usersProvision
    public static let route = "/internal/users/provision"

    public struct Body: Codable, Sendable {
        public var email: String
        public init(email: String) { self.email = email }
    }

    public var body: Body
    public var path: String { Self.route }

    public init(email: String) { body = Body(email: email) }
}
