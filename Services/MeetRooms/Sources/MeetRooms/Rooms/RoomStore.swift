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

    /// A page of a user's rooms with their attendees and the user's room count, in one
    /// round trip. Prepared once per connection: it is the query behind `GET /rooms`.
    struct Page: PostgresPreparedStatement {
        static let name = "meet_rooms_page"
        static let sql = """
            SELECT r.id, r.slug, r.name, r.access_level, r.configuration::text, r.pin_code, r.created_by_application, r.created_at,
                   COALESCE((SELECT array_agg(email ORDER BY email) FROM attendees t WHERE t.room_id = r.id), '{}'),
                   COALESCE((SELECT rooms FROM user_room_counts WHERE user_id = $1), 0)
            FROM (SELECT room_id, room_created_at FROM room_accesses WHERE user_id = $1
                  ORDER BY room_created_at DESC, room_id LIMIT $2 OFFSET $3) a
            JOIN rooms r ON r.id = a.room_id
            ORDER BY a.room_created_at DESC, a.room_id
            """
        typealias Row = (Room, Int)
        let user: UUID
        let limit: Int
        let offset: Int

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(user)
            bindings.append(limit)
            bindings.append(offset)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> (Room, Int) {
            let c = row.makeRandomAccess()
            let room = Room(
                id: try c[0].decode(UUID.self), slug: try c[1].decode(String.self), name: try c[2].decode(String.self),
                accessLevel: try c[3].decode(String.self), configuration: RoomStore.configuration(try c[4].decode(String.self)),
                pinCode: try c[5].decode(String?.self), createdByApplication: try c[6].decode(String?.self),
                createdAt: try c[7].decode(Date.self), attendees: try c[8].decode([String].self))
            return (room, try c[9].decode(Int.self))
        }
    }

    /// A page of the rooms where `user` has any role, newest first, and how many there are.
    /// Both come from `room_accesses_user`, in listing order.
    func rooms(of user: UUID, limit: Int, offset: Int) async throws -> (rooms: [Room], count: Int) {
        var rooms: [Room] = []
        var count = 0
        for try await (room, total) in try await database.execute(Page(user: user, limit: limit, offset: offset), logger: logger) {
            rooms.append(room)
            count = total
        }
        if rooms.isEmpty {
            let counted = try await database.query(
                "SELECT COALESCE((SELECT rooms FROM user_room_counts WHERE user_id = \(user)), 0)", logger: logger)
            for try await total in counted.decode(Int.self) { count = total }
        }
        return (rooms, count)
    }

    /// The room and the role `user` has on it (nil when none).
    func room(_ id: UUID, for user: UUID, on connection: PostgresConnection? = nil, lock: Bool = false) async throws
        -> (room: Room, role: String?)?
    {
        let query: PostgresQuery = """
            SELECT r.id, r.slug, r.name, r.access_level, r.configuration::text, r.pin_code, r.created_by_application, r.created_at,
                   COALESCE((SELECT array_agg(email ORDER BY email) FROM attendees t WHERE t.room_id = r.id), '{}'),
                   (SELECT role FROM room_accesses WHERE room_id = r.id AND user_id = \(user))
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
