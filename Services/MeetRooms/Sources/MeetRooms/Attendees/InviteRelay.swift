import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SuiteContracts
import SuiteCore
import SuiteHTTP
import SuitePostgres

/// Hands new attendees to identity-associations (`SuiteContracts.InviteAttendees`), which
/// mails each one. Rows come from the room update's own
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
    /// Rung when a room update queued invitations (`OutboxListener`): they leave at once.
    var doorbell: Doorbell?
    /// Counts what was delivered and what failed (`suite_outbox_*_total`).
    var observer: (any OutboxObserver)?

    func run() async throws {
        try await Periodic.draining("invite relay pass", every: pollInterval, doorbell: doorbell, logger: logger) {
            try await relayDue() > 0
        }.run()
    }

    @discardableResult
    func relayDue() async throws -> Int {
        let outbox = LeasedOutbox(
            table: "invite_outbox", payload: "room_id, payload::text", database: database, logger: logger, leaseSeconds: 60,
            maxAttempts: maxAttempts, baseBackoffSeconds: baseBackoffSeconds, observer: observer)
        let claimed = try await outbox.claimDue { columns in (try columns[0].decode(UUID.self), try columns[1].decode(String.self)) }
        guard !claimed.isEmpty else { return 0 }
        try await outbox.pass(claimed.count) { _ in
            for (id, attempts, (room, payload)) in claimed {
                do {
                    let invitation = try JSONDecoder().decode(RoomInvitation.self, from: Data(payload.utf8))
                    guard try await peers.send(InviteAttendees(invitation), logger: logger) != nil else {
                        throw AppError.badGateway("identity-associations has no /internal/invites")
                    }
                    let emails = invitation.emails
                    try await database.withRequestTransaction(logger: logger) { connection in
                        try await outbox.markSent([id], on: connection)
                        try await connection.sql(
                            "UPDATE attendees SET invited_at = now() WHERE room_id = \(room) AND email = ANY(\(emails)) AND invited_at IS NULL",
                            logger: logger)
                    }
                    outbox.committed(1)
                    logger.info("attendees invited", metadata: ["room_id": "\(room)", "count": "\(emails.count)"])
                } catch {
                    switch try await outbox.markFailed(id, attempts: attempts, error: error) {
                    case .givenUp: logger.error("invitations given up", metadata: ["room_id": "\(room)", "attempts": "\(attempts)"])
                    case .retryIn(let seconds):
                        logger.warning("invitations delayed", metadata: ["room_id": "\(room)", "retry_in_s": "\(seconds)"])
                    }
                }
            }
        }
        return claimed.count
    }
}
