public import Hummingbird
public import SuiteCore
public import SuiteHTTP
public import SuitePostgres

/// OpenID Connect provider with tenants, clients and zero-knowledge image login.
public enum OIDCVaultService: SuiteService {
    public typealias Context = SuiteContext

    public static let name = "oidc-vault"
    public static let defaultPort = 8084
    public static let defaultSchema = "vault"
    public static let publicPath = "/vault"

    public static var migrations: [Migration] {
        [Migration(fileName: "0001_init.sql", bytes: PackageResources._001_init_sql)]
    }

    public static var openAPIDocument: [UInt8] { PackageResources.openapi_yaml }

    /// Token, introspection and revocation endpoints speak OAuth 2.0 errors (RFC 6749 §5.2).
    public static func errorDialect(forPath path: String) -> ErrorDialect {
        let oauthEndpoints = ["/token", "/oauth2/token", "/introspect", "/revoke"]
        return oauthEndpoints.contains(where: { path.hasSuffix($0) }) ? .oauth : .problem()
    }

    public static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: NoSettings) async throws {}
}
