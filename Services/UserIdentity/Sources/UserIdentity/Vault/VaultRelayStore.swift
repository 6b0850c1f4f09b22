import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of the relay to the vault: its position in the event stream, the next
/// events, and how far behind it is.
struct VaultRelayStore: Sendable {
    let logger: Logger

    /// The position, locked for this transaction; nil when another replica holds it (it
    /// relays meanwhile: one relay at a time keeps each user's changes in order).
    func lockPosition(on connection: PostgresConnection) async throws -> Int64? {
        let rows = try await connection.sql("SELECT relayed_through FROM vault_relay WHERE id = 1 FOR UPDATE SKIP LOCKED", logger: logger)
        for try await position in rows.decode(Int64.self) { return position }
        return nil
    }

    func events(after position: Int64, limit: Int, on connection: PostgresConnection) async throws -> [(id: Int64, type: String, body: String)] {
        var result: [(id: Int64, type: String, body: String)] = []
        let rows = try await connection.sql(
            "SELECT id, type_name, event_body FROM domain_events WHERE id > \(position) ORDER BY id LIMIT \(limit)", logger: logger)
        for try await (id, type, body) in rows.decode((Int64, String, String).self) { result.append((id, type, body)) }
        return result
    }

    func advance(to position: Int64, on connection: PostgresConnection) async throws {
        try await connection.sql(
            "UPDATE vault_relay SET relayed_through = \(position), updated_at = now() WHERE id = 1", logger: logger)
    }

    /// Events not relayed yet, and the age in seconds of the oldest of them.
    func lag(database: PostgresClient) async throws -> (events: Int64, seconds: Double) {
        let rows = try await database.sql(
            """
            SELECT count(e.id), coalesce(extract(epoch FROM now() - min(e.occurred_on)), 0)::float8
            FROM domain_events e, vault_relay r WHERE r.id = 1 AND e.id > r.relayed_through
            """, logger: logger)
        for try await (count, seconds) in rows.decode((Int64, Double).self) { return (count, seconds) }
        return (0, 0)
    }
}
