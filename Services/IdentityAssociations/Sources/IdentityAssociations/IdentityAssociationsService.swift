public import Hummingbird
public import SuiteCore
public import SuiteHTTP
public import SuitePostgres

/// Proof that someone owns an email or phone number, and its binding to a Matrix ID.
public enum IdentityAssociationsService: SuiteService {
    public typealias Context = SuiteContext

    public static let name = "identity-associations"
    public static let defaultPort = 8082
    public static let defaultSchema = "identity"
    public static let publicPath = "/_matrix/identity"

    public static var migrations: [Migration] {
        [Migration(fileName: "0001_init.sql", bytes: PackageResources._001_init_sql)]
    }

    public static var openAPIDocument: [UInt8] { PackageResources.openapi_yaml }

    /// Everything under `/_matrix/` speaks Matrix errors, unknown paths included.
    public static func errorDialect(forPath path: String) -> ErrorDialect {
        path.hasPrefix("/_matrix/") ? .matrix : .problem()
    }

    public static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: NoSettings) async throws {}
}
