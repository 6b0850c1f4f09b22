public import NIOHTTP1
public import SuiteHTTP

/// `PUT /internal/tenants/{tenant}/provisioned-users/{external_id}` at the vault (flow 4):
/// the user-identity account `external_id` as it is now, made or brought up to date in
/// the tenant (the vault user's id and `external_id` are the user-identity id). The
/// whole state each time, so a replay or a repeat changes nothing.
public struct ProvisionVaultUser: InternalEndpoint {
    public typealias Answer = Provisioned
    public static let peer = SuitePeer.oidcVault
    public static let method = HTTPMethod.PUT
    public static let scope = InternalScope.vaultUsersProvision
    public static let route = "/internal/tenants/:tenant_id/provisioned-users/:external_id"

    public struct Body: Codable, Sendable, Equatable {
        public var username: String
        public var email: String
        public var emailVerified: Bool
        public var disabled: Bool
        public var roles: [String]
        public var locale: String?

        public init(username: String, email: String, emailVerified: Bool, disabled: Bool, roles: [String], locale: String?) {
            self.username = username
            self.email = email
            self.emailVerified = emailVerified
            self.disabled = disabled
            self.roles = roles
            self.locale = locale
        }
    }

    public struct Provisioned: Codable, Sendable {
        public var userID: String
        public var created: Bool

        public init(userID: String, created: Bool) {
            self.userID = userID
            self.created = created
        }
    }

    public var tenant: String
    public var externalID: String
    public var body: Body
    public var path: String { "/internal/tenants/\(tenant.pathEncoded)/provisioned-users/\(externalID.pathEncoded)" }

    public init(tenant: String, externalID: String, body: Body) {
        self.tenant = tenant
        self.externalID = externalID
        self.body = body
    }
}
