public import Hummingbird
import Logging
public import ServiceLifecycle
public import SuiteCore
public import SuiteHTTP
import SuiteMail
public import SuitePostgres

/// Proof that someone owns an email or phone number, and its binding to a Matrix ID.
public enum IdentityAssociationsService: SuiteService {
    public typealias Context = SuiteContext
    public typealias Settings = IdentitySettings

    public static let name = "identity-associations"
    public static let defaultPort = 8082
    public static let defaultSchema = "identity"
    public static let publicPath = "/_matrix/identity"

    public static var migrations: [Migration] {
        [
            Migration(fileName: "0001_init.sql", bytes: PackageResources._001_init_sql),
            Migration(fileName: "0002_room_invites.sql", bytes: PackageResources._002_room_invites_sql),
            Migration(fileName: "0003_outbox.sql", bytes: Array(MailOutbox.tableSQL.utf8)),
        ]
    }

    public static var openAPIDocument: [UInt8] { PackageResources.openapi_yaml }

    /// Everything under `/_matrix/` speaks Matrix errors, unknown paths included.
    public static func errorDialect(forPath path: String) -> ErrorDialect {
        path.hasPrefix("/_matrix/") ? .matrix : .problem()
    }

    public static func loadSettings(_ reader: ConfigReader) throws(ConfigurationError) -> IdentitySettings {
        try IdentitySettings.load(reader)
    }

    public static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: Settings) async throws {
        RoomInvites(database: dependencies.database, settings: settings, logger: dependencies.logger)
            .add(to: router, verifier: dependencies.verifier)
        dependencies.logger.info("mail", metadata: ["transport": "\(settings.mail.summary)"])
    }

    public static func backgroundServices(dependencies: SuiteDependencies, settings: Settings) -> [any Service] {
        [OutboxWorker(database: dependencies.database, transport: settings.mail.makeTransport(), logger: dependencies.logger)]
    }
}

/// identity-associations' own settings: where mail goes and its templates.
public struct IdentitySettings: Sendable {
    public var mail: MailSettings
    public var templates: MailTemplates

    public init(mail: MailSettings, templates: MailTemplates) {
        self.mail = mail
        self.templates = templates
    }

    static func load(_ reader: ConfigReader) throws(ConfigurationError) -> IdentitySettings {
        IdentitySettings(
            mail: try MailSettings.load(reader),
            templates: try MailTemplates(builtIn: BuiltInTemplates.all, directory: try reader.string("TEMPLATES_DIR")))
    }
}

enum BuiltInTemplates {
    static let all: [String: String] = [
        "room-invite.en.txt": String(decoding: PackageResources.room_invite_en_txt, as: UTF8.self),
        "room-invite.en.html": String(decoding: PackageResources.room_invite_en_html, as: UTF8.self),
        "room-invite.fr.txt": String(decoding: PackageResources.room_invite_fr_txt, as: UTF8.self),
    ]
}
