import Foundation
import Logging
import NIOCore
import PostgresNIO
import SuiteMail

/// The SQL of validation sessions. Opening a batch of them also queues each due message
/// in the same statement (mail through SuiteMail's `MailOutbox.insert`, text messages in
/// this service's `sms_outbox`): requestToken is the hot path of a drop-in sydent, and one round trip
/// per batch is what keeps it fast.
struct ValidationSessionStore: Sendable {
    let database: PostgresClient

    /// Finds or creates each input's session, records its token and queues its message
    /// when one is due; the sids, in the inputs' order.
    func open(_ inputs: [OpenSessions.Input], lifetimeSeconds: Double, logger: Logger) async throws -> [Int64] {
        let rows = try await database.sql(OpenSessions(inputs: inputs, lifetimeSeconds: lifetimeSeconds), logger: logger)
        var sids: [Int64] = []
        sids.reserveCapacity(inputs.count)
        for try await sid in rows { sids.append(sid) }
        return sids
    }

    func session(_ sid: Int64, logger: Logger) async throws -> ValidationSessions.Session? {
        let rows = try await database.sql(
            """
            SELECT id, medium, address, client_secret, token_hashes, next_link, validated_at, failed_attempts, last_requested_at
            FROM validation_sessions WHERE id = \(sid)
            """, logger: logger)
        for try await row in rows {
            let columns = row.makeRandomAccess()
            return ValidationSessions.Session(
                id: try columns[0].decode(Int64.self), medium: try columns[1].decode(String.self), address: try columns[2].decode(String.self),
                clientSecret: try columns[3].decode(String.self), tokenHashes: try columns[4].decode([ByteBuffer].self),
                nextLink: try columns[5].decode(String?.self), validatedAt: try columns[6].decode(Date?.self),
                failedAttempts: try columns[7].decode(Int.self), lastRequestedAt: try columns[8].decode(Date.self))
        }
        return nil
    }

    func countFailedAttempt(_ sid: Int64, logger: Logger) async throws {
        try await database.sql("UPDATE validation_sessions SET failed_attempts = failed_attempts + 1 WHERE id = \(sid)", logger: logger)
    }

    /// Marks the session validated (once: the first time stays) and returns when it was.
    func markValidated(_ sid: Int64, logger: Logger) async throws -> Date? {
        let rows = try await database.sql(
            "UPDATE validation_sessions SET validated_at = COALESCE(validated_at, now()) WHERE id = \(sid) RETURNING validated_at",
            logger: logger)
        for try await date in rows.decode(Date.self) { return date }
        return nil
    }

    func purge(olderThanSeconds seconds: Int, logger: Logger) async throws {
        try await database.sql(
            "DELETE FROM validation_sessions WHERE last_requested_at < now() - make_interval(secs => \(Double(seconds)))", logger: logger)
    }
}

/// A prepared statement (planned once per connection, not per request): finds or
/// creates the validation sessions of a batch of requests and, for each one with a
/// message due, records the token and queues the mail (its `sidMarker` replaced by the
/// sid) or the text message; one row of sids per request, in order. The batch's
/// (medium, address, client secret) are distinct (`WriteBatcher` sees to it): an upsert
/// touches each row once. Optional texts travel as '' (PostgresNIO sends no NULL inside
/// an array).
struct OpenSessions: PostgresPreparedStatement {
    static let name = "identity_open_sessions"
    static let sql = """
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[], $8::text[], $9::text[], $10::text[],
                $11::text[], $12::text[], $13::text[])
                WITH ORDINALITY AS i(medium, address, secret, token_hash, send_attempt, next_link, mail_sender, mail_recipients, mail_text,
                    sid_marker, sms_recipient, sms_body, n)
        ), session AS (
            INSERT INTO validation_sessions AS s (medium, address, client_secret, token_hashes, last_send_attempt, next_link)
            SELECT medium, address, secret, ARRAY[token_hash], NULLIF(send_attempt, '')::bigint, NULLIF(next_link, '') FROM input ORDER BY n
            ON CONFLICT (medium, address, client_secret) DO UPDATE SET
                token_hashes = CASE
                    WHEN s.last_requested_at < now() - make_interval(secs => $7) THEN EXCLUDED.token_hashes
                    WHEN EXCLUDED.last_send_attempt IS NULL OR s.last_send_attempt IS NULL OR s.last_send_attempt < EXCLUDED.last_send_attempt
                        THEN (s.token_hashes || EXCLUDED.token_hashes)[greatest(1, cardinality(s.token_hashes) - 2):]
                    ELSE s.token_hashes END,
                failed_attempts = CASE
                    WHEN s.last_requested_at < now() - make_interval(secs => $7)
                        OR EXCLUDED.last_send_attempt IS NULL OR s.last_send_attempt IS NULL OR s.last_send_attempt < EXCLUDED.last_send_attempt
                        THEN 0
                    ELSE s.failed_attempts END,
                last_send_attempt = CASE
                    WHEN s.last_requested_at < now() - make_interval(secs => $7) THEN EXCLUDED.last_send_attempt
                    ELSE COALESCE(greatest(s.last_send_attempt, EXCLUDED.last_send_attempt), s.last_send_attempt) END,
                validated_at = CASE WHEN s.last_requested_at < now() - make_interval(secs => $7) THEN NULL ELSE s.validated_at END,
                next_link = COALESCE(EXCLUDED.next_link, s.next_link),
                last_requested_at = now()
            RETURNING s.id, s.medium, s.address, s.client_secret, s.token_hashes[cardinality(s.token_hashes)] AS last_hash
        ), opened AS (
            SELECT input.*, session.id, session.last_hash = input.token_hash AS due
            FROM input JOIN session ON session.medium = input.medium AND session.address = input.address AND session.client_secret = input.secret
        ), mail AS (
            \(MailOutbox.insert(selecting: """
                SELECT mail_sender, string_to_array(mail_recipients, E'\\n'), convert_to(replace(mail_text, sid_marker, id::text), 'UTF8')
                FROM opened WHERE due AND mail_text <> '' ORDER BY n
                """))
        ), sms AS (
            INSERT INTO sms_outbox (recipient, body) SELECT sms_recipient, sms_body FROM opened WHERE due AND sms_recipient <> '' ORDER BY n
        )
        SELECT id FROM opened ORDER BY n
        """
    typealias Row = Int64

    /// One request's session and message.
    struct Input: Sendable {
        var medium: String
        var address: String
        var secret: String
        var tokenHash: ByteBuffer
        var sendAttempt: Int64?
        var nextLink: String?
        var outgoing: ValidationSessions.Outgoing

        var mail: (envelope: MailEnvelope, sidMarker: String)? {
            if case .mail(let envelope, let marker) = outgoing { return (envelope, marker) }
            return nil
        }

        var sms: (to: String, body: String)? {
            if case .sms(let to, let body) = outgoing { return (to, body) }
            return nil
        }

        /// What one statement must not hold twice.
        var key: String { medium + "\u{0}" + address + "\u{0}" + secret }
    }

    var inputs: [Input]
    var lifetimeSeconds: Double

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 13)
        bindings.append(inputs.map(\.medium))
        bindings.append(inputs.map(\.address))
        bindings.append(inputs.map(\.secret))
        bindings.append(inputs.map(\.tokenHash))
        bindings.append(inputs.map { $0.sendAttempt.map(String.init) ?? "" })
        bindings.append(inputs.map { $0.nextLink ?? "" })
        bindings.append(lifetimeSeconds)
        bindings.append(inputs.map { $0.mail?.envelope.sender ?? "" })
        bindings.append(inputs.map { $0.mail?.envelope.recipients.joined(separator: "\n") ?? "" })
        bindings.append(inputs.map { $0.mail.map { String(decoding: $0.envelope.data, as: UTF8.self) } ?? "" })
        bindings.append(inputs.map { $0.mail?.sidMarker ?? "" })
        bindings.append(inputs.map { $0.sms?.to ?? "" })
        bindings.append(inputs.map { $0.sms?.body ?? "" })
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
