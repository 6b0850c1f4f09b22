import Foundation
import Logging
import PostgresNIO
import SuiteContracts
import SuiteCore
import SuitePostgres

/// The SQL of rooms, their accesses and attendees.
struct RoomStore: Sendable {
    let database: PostgresClient
    let logger: Logger
    /// `page(of:…)` goes through it.
    private let pages: QueryBatcher<PageKey, PageResult>

    /// - Parameter render: writes a page of rooms as the JSON array clients see.
    init(database: PostgresClient, logger: Logger, render: @escaping @Sendable ([Room]) -> [UInt8]) {
        self.database = database
        self.logger = logger
        pages = QueryBatcher { keys, logger in
            var found: [PageKey: PageResult] = [:]
            found.reserveCapacity(keys.count)
            for try await row in try await database.sql(Pages(keys: keys), logger: logger) {
                let key = keys[row.index]
                var result = found[key] ?? PageResult(standing: row.standing, count: row.count, rooms: [])
                if let room = row.room { result.rooms.append(room) }
                found[key] = result
            }
            for (key, result) in found { found[key]?.json = render(result.rooms) }
            return found
        }
    }

    fileprivate static func configuration(_ text: String) -> JSONValue {
        if text == "{}" { return .object([:]) }
        return (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .object([:])
    }

    /// One `GET /rooms` question: whose rooms, which page, asked by which application.
    struct PageKey: Hashable, Sendable {
        var user: UUID
        var limit: Int
        var offset: Int
        var clientID: String
    }

    /// The answer: the application's standing, the user's room count, the page, and
    /// the page as the JSON array `GET /rooms` shows (written once per batch, whoever
    /// asked the same question).
    struct PageResult: Sendable {
        var standing: (active: Bool, scopes: [String])?
        var count: Int
        var rooms: [Room]
        var json: [UInt8] = []
    }

    /// The calling application's standing, the user's room count and a page of their
    /// rooms with attendees: everything `GET /rooms` needs, for many questions in one
    /// round trip (concurrent requests are batched; identical ones share the answer).
    /// No row for a question means the application does not exist. Prepared once per
    /// connection.
    struct Pages: PostgresPreparedStatement {
        static let name = "meet_rooms_pages"
        static let sql = """
            SELECT q.i, app.is_active, app.scopes, COALESCE((SELECT rooms FROM user_room_counts WHERE user_id = q.user_id), 0),
                   p.id, p.slug, p.name, p.access_level, p.configuration, p.pin_code, p.created_by_application, p.created_at,
                   p.attendees
            FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[]) WITH ORDINALITY AS q(user_id, lim, off, client_id, i)
            LEFT JOIN applications app ON app.client_id = q.client_id
            LEFT JOIN LATERAL (
                SELECT r.id, r.slug, r.name, r.access_level, r.configuration::text AS configuration, r.pin_code,
                       r.created_by_application, r.created_at, a.room_name, r.attendees
                FROM (SELECT room_id, room_name FROM room_accesses WHERE user_id = q.user_id
                      ORDER BY room_name, room_id LIMIT q.lim OFFSET q.off) a
                JOIN rooms r ON r.id = a.room_id
            ) p ON true
            ORDER BY q.i, p.room_name, p.id
            """
        typealias Row = (index: Int, standing: (active: Bool, scopes: [String])?, count: Int, room: Room?)
        let keys: [PageKey]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(keys.map(\.user))
            bindings.append(keys.map(\.limit))
            bindings.append(keys.map(\.offset))
            bindings.append(keys.map(\.clientID))
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            let c = row.makeRandomAccess()
            let index = Int(try c[0].decode(Int64.self)) - 1
            // No application row (a provider's token, or an application gone): no standing.
            let standing = try c[1].decode(Bool?.self).map { (active: $0, scopes: try c[2].decode([String].self)) }
            let count = try c[3].decode(Int.self)
            guard let id = try c[4].decode(UUID?.self) else { return (index, standing, count, nil) }
            let room = Room(
                id: id, slug: try c[5].decode(String.self), name: try c[6].decode(String.self),
                accessLevel: try c[7].decode(String.self), configuration: RoomStore.configuration(try c[8].decode(String.self)),
                pinCode: try c[9].decode(String?.self), createdByApplication: try c[10].decode(String?.self),
                createdAt: try c[11].decode(Date.self), attendees: try c[12].decode([String].self))
            return (index, standing, count, room)
        }
    }

    /// The application's standing (nil when it does not exist), the user's room count
    /// and one page of their rooms, by name as La Suite Meet lists them.
    func page(of user: UUID, limit: Int, offset: Int, clientID: String) async throws
        -> (standing: (active: Bool, scopes: [String])?, count: Int, rooms: [Room], json: [UInt8])
    {
        let key = PageKey(user: user, limit: limit, offset: offset, clientID: clientID)
        guard let found = try await pages.load(key, logger: logger) else { return (nil, 0, [], Array("[]".utf8)) }
        return (found.standing, found.count, found.rooms, found.json)
    }

    /// The room and the role `user` has on it (nil when none).
    func room(_ id: UUID, for user: UUID, on connection: PostgresConnection? = nil, lock: Bool = false) async throws
        -> (room: Room, role: String?)?
    {
        let query: PostgresQuery = """
            SELECT r.id, r.slug, r.name, r.access_level, r.configuration::text, r.pin_code, r.created_by_application, r.created_at,
                   r.attendees, (SELECT role FROM room_accesses WHERE room_id = r.id AND user_id = \(user))
            FROM rooms r WHERE r.id = \(id) \(unescaped: lock ? "FOR UPDATE" : "")
            """
        let rows = if let connection { try await connection.sql(query, logger: logger) } else { try await database.sql(query, logger: logger) }
        for try await (id, slug, name, level, configuration, pin, application, created, attendees, role) in rows.decode(
            (UUID, String, String, String, String, String?, String?, Date, [String], String?).self)
        {
            return (
                Room(
                    id: id, slug: slug, name: name, accessLevel: level, configuration: Self.configuration(configuration), pinCode: pin,
                    createdByApplication: application, createdAt: created, attendees: attendees), role
            )
        }
        return nil
    }

    /// Inserts the room with its owner. A slug or PIN already taken is drawn again.
    func create(_ room: Room, owner: UUID, pinLength: Int?) async throws -> Room {
        var room = room
        for attempt in 1...8 {
            do {
                try await database.withRequestTransaction(logger: logger) { connection in
                    try await connection.sql(
                        """
                        INSERT INTO rooms (id, slug, name, access_level, configuration, pin_code, created_by_application, created_at)
                        VALUES (\(room.id), \(room.slug), \(room.name), \(room.accessLevel),
                                \(CanonicalJSON.string(room.configuration))::jsonb, \(room.pinCode), \(room.createdByApplication),
                                \(room.createdAt))
                        """, logger: logger)
                    try await connection.sql(
                        """
                        INSERT INTO room_accesses (room_id, user_id, role, room_created_at, room_name)
                        VALUES (\(room.id), \(owner), 'owner', \(room.createdAt), \(room.name))
                        """, logger: logger)
                }
                return room
            } catch let error as PostgresTransactionError {
                guard let psql = error.closureError as? PSQLError, psql.serverInfo?[.sqlState] == "23505", attempt < 8 else { throw error }
                logger.info("room slug or PIN collided; drawing again")
                room.slug = Slug.make()
                if let pinLength { room.pinCode = Slug.pin(length: pinLength) }
            }
        }
        return room
    }

    /// One attendee of a room, as the attendees route shows it.
    struct Attendee: Sendable {
        let email: String
        let addedAt: Date
        let invitedAt: Date?
    }

    func attendees(of id: UUID) async throws -> [Attendee] {
        let rows = try await database.sql(
            "SELECT email, added_at, invited_at FROM attendees WHERE room_id = \(id) ORDER BY email", logger: logger)
        var found: [Attendee] = []
        for try await (email, added, invited) in rows.decode((String, Date, Date?).self) {
            found.append(Attendee(email: email, addedAt: added, invitedAt: invited))
        }
        return found
    }

    /// What a PATCH changes: nil leaves a field as it is; `attendees` is the whole list.
    struct Change: Sendable {
        var name: String?
        var accessLevel: String?
        var configuration: JSONValue?
        var attendees: [String]?
    }

    enum UpdateOutcome {
        case updated(Room)
        case notFound
        /// `user`'s role (nil when none) may not change the room.
        case notAllowed
    }

    /// Applies `change` to the room, in one transaction with the room locked, if `user`'s
    /// role on it is one of `roles`. New attendees are added and handed to the invite
    /// outbox with `invitation(room, added)`, in the same transaction; removed ones go.
    func update(
        _ id: UUID, by user: UUID, roles: Set<String>, change: Change,
        invitation: @escaping @Sendable (Room, [String]) -> RoomInvitation
    ) async throws -> UpdateOutcome {
        let logger = self.logger
        return try await database.withRequestTransaction(logger: logger) { connection in
            guard let (room, role) = try await self.room(id, for: user, on: connection, lock: true) else { return .notFound }
            guard let role, roles.contains(role) else { return .notAllowed }
            if let name = change.name {
                try await connection.sql("UPDATE rooms SET name = \(name) WHERE id = \(id)", logger: logger)
            }
            if let accessLevel = change.accessLevel {
                try await connection.sql("UPDATE rooms SET access_level = \(accessLevel) WHERE id = \(id)", logger: logger)
            }
            if let configuration = change.configuration {
                try await connection.sql(
                    "UPDATE rooms SET configuration = \(CanonicalJSON.string(configuration))::jsonb WHERE id = \(id)", logger: logger)
            }
            if let attendees = change.attendees {
                let added = attendees.filter { !room.attendees.contains($0) }
                try await connection.sql(
                    "DELETE FROM attendees WHERE room_id = \(id) AND NOT (email = ANY(\(attendees)))", logger: logger)
                try await connection.sql("UPDATE rooms SET attendees = \(attendees.sorted()) WHERE id = \(id)", logger: logger)
                if !added.isEmpty {
                    try await connection.sql(
                        "INSERT INTO attendees (room_id, email) SELECT \(id), unnest(\(added)::text[]) ON CONFLICT DO NOTHING",
                        logger: logger)
                    // Handed to identity-associations by the relay, after this commits.
                    let payload = String(decoding: try JSONEncoder().encode(invitation(room, added)), as: UTF8.self)
                    try await connection.sql(
                        "INSERT INTO invite_outbox (room_id, payload) VALUES (\(id), \(payload)::jsonb)", logger: logger)
                }
            }
            guard let (fresh, _) = try await self.room(id, for: user, on: connection) else { return .notFound }
            return .updated(fresh)
        }
    }

    func delete(_ id: UUID) async throws {
        try await database.sql("DELETE FROM rooms WHERE id = \(id)", logger: logger)
    }
}
