import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The domain events of User&Identity, written in the transaction of the change they
/// describe.
enum EventStore {
    /// Records `type` (`UserWasCreated`) with `body` on `connection`. The body gets the
    /// seed's `occurredOn`.
    static func record(_ type: String, _ body: [String: JSONValue], on connection: PostgresConnection, logger: Logger)
        async throws
    {
        let now = Date()
        var body = body
        body["occurredOn"] = .string(Timestamp.compact(now))
        let text = CanonicalJSON.string(.object(body))
        try await connection.sql(
            """
            WITH next AS (UPDATE event_counter SET last_id = last_id + 1 RETURNING last_id)
            INSERT INTO domain_events (id, type_name, occurred_on, event_body)
            SELECT last_id, \(type), \(now), \(text) FROM next
            """, logger: logger)
    }

    struct Event: Encodable {
        var id: String
        var type_name: String
        var occurred_on: String
        var event_body: String
    }

    /// Events `from`…`to` (inclusive), at most 500, optionally of some types only.
    static func events(from: Int64, to: Int64, types: [String], database: PostgresClient, logger: Logger) async throws -> [Event] {
        let rows = try await database.sql(
            """
            SELECT id, type_name, occurred_on, event_body FROM domain_events
            WHERE id BETWEEN \(from) AND \(to) AND (cardinality(\(types)::text[]) = 0 OR type_name = ANY(\(types)))
            ORDER BY id LIMIT 500
            """, logger: logger)
        var events: [Event] = []
        for try await (id, type, occurred, body) in rows.decode((Int64, String, Date, String).self) {
            events.append(Event(id: String(id), type_name: type, occurred_on: Timestamp.millis(occurred), event_body: body))
        }
        return events
    }
}
