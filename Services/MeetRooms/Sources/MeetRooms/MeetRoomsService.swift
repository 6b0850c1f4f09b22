public import Hummingbird
public import SuiteCore
public import SuiteHTTP
public import SuitePostgres

/// Video-conference rooms, and the third-party applications that manage them for a user.
public enum MeetRoomsService: SuiteService {
    public typealias Context = SuiteContext

    public static let name = "meet-rooms"
    public static let defaultPort = 8081
    public static let defaultSchema = "meet"
    public static let publicPath = "/external-api"

    public static var migrations: [Migration] {
        [Migration(fileName: "0001_init.sql", bytes: PackageResources._001_init_sql)]
    }

    public static var openAPIDocument: [UInt8] { PackageResources.openapi_yaml }

    /// Meet keeps its seed bodies (`{"detail": …}`, `{"error": …}`) inside problem+json.
    public static func errorDialect(forPath path: String) -> ErrorDialect { .problem() }

    public static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: NoSettings) async throws {}
}
