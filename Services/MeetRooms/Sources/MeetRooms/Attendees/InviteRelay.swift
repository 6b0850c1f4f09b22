import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SuiteCore
import SuiteHTTP

/// Hands new attendees to identity-associations (`POST /internal/invites`, scope
/// `invites:write`), which mails each one. Rows come from the room update's own
/// transaction; a peer that is down or failing means a later attempt (5 s, 10 s, 20 s …
/// at most an hour), never a lost invitation. identity-associations is idempotent per
/// (room, email), so a retry after a lost answer sends nothing twice.
struct InviteRelay: Service {
    let database: PostgresClient
    let peers: InternalClient
    let logger: Logger
    var pollInterval: Duration = .milliseconds(500)
    var baseBackoffSeconds: Double = 5
    var maxAttempts = 20

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            var handled = 0
            do {
                handled = try await relayDue()
            } catch {
                logger.warning("invite relay pass failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            if handled == 0 {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pollInterval) }
            }
        }
    }

    @discardableResult
    func relayDue() async throws -> Int {
        let claimed = try await database.query(
            """
            UPDATE invite_outbox SET locked_until = now() + interval '1 minute', attempts = attempts + 1
            WHERE id IN (
                SELECT id FROM invite_outbox
                WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
                  AND (locked_until IS NULL OR locked_until < now())
                ORDER BY id LIMIT 20 FOR UPDATE SKIP LOCKED)
            RETURNING id, room_id, payload::text, attempts
            """, logger: logger)
        var rows: [(Int64, UUID, String, Int)] = []
        for try await row in claimed.decode((Int64, UUID, String, Int).self) { rows.append(row) }
        for (id, room, payload, attempts) in rows.sorted(by: { $0.0 < $1.0 }) {
            do {
                let answer = try await peers.send(
                    .POST, to: "identity-associations", path: "/internal/invites", scope: "invites:write",
                    json: Array(payload.utf8), logger: logger)
                guard (200..<300).contains(answer.status) else {
                    throw AppError.badGateway("identity-associations answered \(answer.status)")
                }
                let emails = (try? JSONDecoder().decode(JSONValue.self, from: Data(payload.utf8)))?["emails"]
                let list = emails?.arrayValue?.compactMap(\.stringValue) ?? []
                try await database.withTransaction(logger: logger) { connection in
                    try await connection.query(
                        "UPDATE invite_outbox SET sent_at = now(), locked_until = NULL, last_error = NULL WHERE id = \(id)",
                        logger: logger)
                    try await connection.query(
                        "UPDATE attendees SET invited_at = now() WHERE room_id = \(room) AND email = ANY(\(list)) AND invited_at IS NULL",
                        logger: logger)
                }
                logger.info("attendees invited", metadata: ["room_id": "\(room)", "count": "\(list.count)"])
            } catch {
                let reason = String(describing: error).prefix(300)
                if attempts >= maxAttempts {
                    logger.error("invitations given up", metadata: ["room_id": "\(room)", "attempts": "\(attempts)"])
                    try await database.query(
                        "UPDATE invite_outbox SET failed_at = now(), locked_until = NULL, last_error = \(String(reason)) WHERE id = \(id)",
                        logger: logger)
                } else {
                    let delay = min(3600, baseBackoffSeconds * pow(2, Double(attempts - 1)))
                    logger.warning("invitations delayed", metadata: ["room_id": "\(room)", "retry_in_s": "\(delay)"])
                    try await database.query(
                        """
                        UPDATE invite_outbox SET locked_until = NULL, last_error = \(String(reason)),
                            next_attempt_at = now() + make_interval(secs => \(delay))
                        WHERE id = \(id)
                        """, logger: logger)
                }
            }
        }
        return rows.count
    }
}
