public import Hummingbird
public import SuiteCore
public import SuiteHTTP
public import SuitePostgres

/// Accounts, credentials, roles, profiles and documents.
public enum UserIdentityService: SuiteService {
    public typealias Context = SuiteContext

    public static let name = "user-identity"
    public static let defaultPort = 8083
    public static let defaultSchema = "uai"
    public static let publicPath = "/uai"

    public static var migrations: [Migration] {
        [Migration(fileName: "0001_init.sql", bytes: PackageResources._001_init_sql)]
    }

    public static var openAPIDocument: [UInt8] { PackageResources.openapi_yaml }

    /// The seed writes the RFC 2616 URI in every problem `type`.
    public static func errorDialect(forPath path: String) -> ErrorDialect {
        .problem(type: "http://www.w3.org/Protocols/rfc2616/rfc2616")
    }

    public static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: NoSettings) async throws {}
}
