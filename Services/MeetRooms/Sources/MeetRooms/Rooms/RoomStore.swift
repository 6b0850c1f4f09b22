import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of rooms, their accesses and attendees.
struct RoomStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    fileprivate static func configuration(_ text: String) -> JSONValue {
        if text == "{}" { return .object([:]) }
        return (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .object([:])
    }

    /// The calling application's standing, the user's room count and a page of their
    /// rooms with attendees: everything `GET /rooms` needs, in one round trip. No row at
    /// all means the application does not exist. Prepared once per connection.
    struct Page: PostgresPreparedStatement {
        static let name = "meet_rooms_page"
        static let sql = """
            SELECT app.is_active, app.scopes, COALESCE((SELECT rooms FROM user_room_counts WHERE user_id = $1), 0),
                   p.id, p.slug, p.name, p.access_level, p.configuration, p.pin_code, p.created_by_application, p.created_at,
                   p.attendees
            FROM applications app
            LEFT JOIN LATERAL (
                SELECT r.id, r.slug, r.name, r.access_level, r.configuration::text AS configuration, r.pin_code,
                       r.created_by_application, r.created_at, a.room_created_at, r.attendees
                FROM (SELECT room_id, room_created_at FROM room_accesses WHERE user_id = $1
                      ORDER BY room_created_at DESC, room_id LIMIT $2 OFFSET $3) a
                JOIN rooms r ON r.id = a.room_id
            ) p ON true
            WHERE app.client_id = $4
            ORDER BY p.room_created_at DESC, p.id
            """
        typealias Row = (standing: (active: Bool, scopes: [String]), count: Int, room: Room?)
        let user: UUID
        let limit: Int
        let offset: Int
        let clientID: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(user)
            bindings.append(limit)
            bindings.append(offset)
            bindings.append(clientID)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            let c = row.makeRandomAccess()
            let standing = (active: try c[0].decode(Bool.self), scopes: try c[1].decode([String].self))
            guard let id = try c[3].decode(UUID?.self) else { return (standing, try c[2].decode(Int.self), nil) }
            let room = Room(
                id: id, slug: try c[4].decode(String.self), name: try c[5].decode(String.self),
                accessLevel: try c[6].decode(String.self), configuration: RoomStore.configuration(try c[7].decode(String.self)),
                pinCode: try c[8].decode(String?.self), createdByApplication: try c[9].decode(String?.self),
                createdAt: try c[10].decode(Date.self), attendees: try c[11].decode([String].self))
            return (standing, try c[2].decode(Int.self), room)
        }
    }

    /// The application's standing (nil when it does not exist), the user's room count
    /// and one page of their rooms, newest first.
    func page(of user: UUID, limit: Int, offset: Int, clientID: String) async throws
        -> (standing: (active: Bool, scopes: [String])?, count: Int, rooms: [Room])
    {
        var standing: (active: Bool, scopes: [String])?
        var count = 0
        var rooms: [Room] = []
        let rows = try await database.execute(Page(user: user, limit: limit, offset: offset, clientID: clientID), logger: logger)
        for try await row in rows {
            standing = row.standing
            count = row.count
            if let room = row.room { rooms.append(room) }
        }
        return (standing, count, rooms)
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
        let rows = if let connection { try await connection.query(query, logger: logger) } else { try await database.query(query, logger: logger) }
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
                try await database.withTransaction(logger: logger) { connection in
                    try await connection.query(
                        """
                        INSERT INTO rooms (id, slug, name, access_level, configuration, pin_code, created_by_application, created_at)
                        VALUES (\(room.id), \(room.slug), \(room.name), \(room.accessLevel),
                                \(CanonicalJSON.string(room.configuration))::jsonb, \(room.pinCode), \(room.createdByApplication),
                                \(room.createdAt))
                        """, logger: logger)
                    try await connection.query(
                        """
                        INSERT INTO room_accesses (room_id, user_id, role, room_created_at)
                        VALUES (\(room.id), \(owner), 'owner', \(room.createdAt))
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
}
