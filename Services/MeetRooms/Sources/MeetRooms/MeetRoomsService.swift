public import ArgumentParser
public import Hummingbird
public import ServiceLifecycle
public import SuiteCore
public import SuiteHTTP
public import SuitePostgres

/// Video rooms for third-party applications acting for a user (La Suite Meet's
/// External API).
public enum MeetRoomsService: SuiteService {
    public typealias Context = MeetContext
    public typealias Settings = MeetSettings

    public static let name = "meet-rooms"
    public static let defaultPort = 8081
    public static let defaultSchema = "meet"
    public static let publicPath = "/external-api"
    public static let usesRateLimits = true

    /// The outbox tables whose commits wake their workers (`OutboxListener`; each has the
    /// trigger in the migrations), and whose depth and age `/metrics` exports.
    public static let outboxTables = ["invite_outbox"]

    public static var migrations: [Migration] {
        [
            Migration(fileName: "0001_init.sql", bytes: PackageResources._001_init_sql),
            Migration(fileName: "0002_rooms.sql", bytes: PackageResources._002_rooms_sql),
            Migration(fileName: "0003_limits.sql", bytes: PackageResources._003_limits_sql),
            Migration(fileName: "0004_room_counts.sql", bytes: PackageResources._004_room_counts_sql),
            Migration(fileName: "0005_room_attendee_list.sql", bytes: PackageResources._005_room_attendee_list_sql),
            Migration(fileName: "0006_outbox_notify.sql", bytes: PackageResources._006_outbox_notify_sql),
            Migration(fileName: "0007_rooms_by_name.sql", bytes: PackageResources._007_rooms_by_name_sql),
            Migration(fileName: "0008_outbox_created.sql", bytes: PackageResources._008_outbox_created_sql),
        ]
    }

    public static var openAPIDocument: [UInt8] { PackageResources.openapi_yaml }

    /// The External API answers as Django REST framework does; the operational routes
    /// keep the suite's problem+json.
    public static func errorDialect(forPath path: String) -> ErrorDialect {
        path.hasPrefix("/external-api/") ? .drf : .problem()
    }

    public static func loadSettings(_ reader: ConfigReader) throws(ConfigurationError) -> MeetSettings {
        try MeetSettings.load(reader)
    }

    public static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: Settings) async throws {
        let applications = ApplicationStore(database: dependencies.database, logger: dependencies.logger)
        let users = DelegatedUsers(peers: dependencies.peers, allowCreation: settings.allowUserCreation)
        let resourceServer = settings.resourceServer.map {
            ResourceServer(
                settings: $0, users: users, audience: settings.audience, peers: dependencies.peers,
                timeout: dependencies.configuration.internalTimeout)
        }
        let delegation = Delegation(
            settings: settings, applications: applications, users: UserStanding(peers: dependencies.peers), resourceServer: resourceServer)
        let token = TokenRoute(
            delegation: delegation, applications: applications, rateLimiter: dependencies.rateLimiter, users: users)
        let rooms = RoomRoutes(
            delegation: delegation,
            rooms: RoomStore(
                database: dependencies.database, logger: dependencies.logger, render: { RoomStore.render($0, settings: settings) }),
            settings: settings, rateLimiter: dependencies.rateLimiter,
            baseURL: dependencies.configuration.publicURL + "/v1.0")
        // Hummingbird's router matches with or without a trailing slash, so `/rooms/`
        // (what the anchor's Django clients send) and `/rooms` are one route.
        dependencies.access.open(router) {
            // The application's credentials are the body.
            router.post("/external-api/v1.0/application/token") { request, context in try await token.handle(request, context) }
        }
        // Every rooms route: a delegation token of ours, or nothing is read.
        let api = router.group("/external-api/v1.0").add(middleware: delegation.authenticator)
        do {
            api.get("rooms") { request, context in try await rooms.list(request, context) }
            api.post("rooms") { request, context in try await rooms.create(request, context) }
            api.get("rooms/:id") { request, context in try await rooms.retrieve(request, context) }
            api.patch("rooms/:id") { request, context in try await rooms.update(request, context) }
            api.delete("rooms/:id") { request, context in try await rooms.delete(request, context) }
            api.get("rooms/:id/attendees") { request, context in try await rooms.attendees(request, context) }
        }
    }

    public static func backgroundServices(dependencies: SuiteDependencies, settings: Settings) -> [any Service] {
        let database = dependencies.database, logger = dependencies.logger
        let outboxes = OutboxListener(
            database: database, schema: dependencies.configuration.database.schema, tables: Self.outboxTables, logger: logger)
        return [
            outboxes,
            InviteRelay(
                database: database, peers: dependencies.peers, logger: logger, doorbell: outboxes.doorbell("invite_outbox"),
                observer: dependencies.metrics),
            // Relayed invitations a week on: the identity service has them by then.
            Periodic("purge", every: .seconds(600), logger: logger, waitFirst: true) {
                try await LeasedOutbox.purgeDelivered("invite_outbox", olderThanSeconds: 7 * 86_400, database: database, logger: logger)
            },
        ]
    }

    public static var commands: [any ParsableCommand.Type] { [ApplicationsCommand.self] }
}
