import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import SuiteCore
import SuiteSigning
import SuiteHTTP
import SuiteMail
import SuitePostgres

/// Proof of ownership of an email address or phone number: `requestToken` opens (or
/// finds) a session and sends a token, `submitToken` checks it, `getValidated3pid` says
/// what was proven.
struct ValidationSessions: Sendable {
    let database: PostgresClient
    let settings: IdentitySettings
    let publicBaseURL: String
    let rateLimiter: RateLimiter
    /// requestToken's writes, committed together when requests arrive together.
    private let opener: WriteBatcher<OpenSessions.Input, String, Int64>

    static let requestsPerIP = RateLimit(name: "is-requesttoken-ip", limit: 60, windowSeconds: 3600)
    static let requestsPerAddress = RateLimit(name: "is-requesttoken-address", limit: 10, windowSeconds: 3600)
    /// Wrong tokens a session survives (six-digit SMS codes must not be guessable).
    static let maxFailedAttempts = 10

    init(database: PostgresClient, settings: IdentitySettings, publicBaseURL: String, rateLimiter: RateLimiter) {
        self.database = database
        self.settings = settings
        self.publicBaseURL = publicBaseURL
        self.rateLimiter = rateLimiter
        let lifetime = Double(settings.sessionLifetimeSeconds)
        opener = WriteBatcher(key: \.key) { inputs, logger in
            let rows = try await database.execute(OpenSessions(inputs: inputs, lifetimeSeconds: lifetime), logger: logger)
            var sids: [Int64] = []
            sids.reserveCapacity(inputs.count)
            for try await sid in rows { sids.append(sid) }
            return sids
        }
    }

    enum Medium: String {
        case email, msisdn
    }

    struct Session {
        var id: Int64
        var medium: String
        var address: String
        var clientSecret: String
        var tokenHashes: [ByteBuffer]
        var nextLink: String?
        var validatedAt: Date?
        var failedAttempts: Int
        var lastRequestedAt: Date
    }

    // MARK: requestToken

    /// `POST …/validate/email/requestToken`.
    func requestEmailToken(_ request: Request, context: SuiteContext, version: APIVersion) async throws -> Response {
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("client_secret", "email")
        let secret = try parameters.clientSecret()
        let raw = try parameters.string("email", maxBytes: 512)
        let email = Matrix.foldedEmail(raw)
        guard Validate.isEmail(email) else { throw Matrix.error(.badRequest, "M_INVALID_EMAIL", "Invalid email address") }
        let sendAttempt = try parameters.optionalInt("send_attempt")
        let nextLink = try nextLinkParameter(parameters)
        try await rateLimiter.enforce([
            (Self.requestsPerIP, request.clientAddress(context: context)), (Self.requestsPerAddress, "email:" + email),
        ])
        let brand = settings.brands.brand(request.uri.queryParameters["brand"].map(String.init))
        // The mail is rendered before the sid is known; PostgreSQL puts the sid in place
        // of a one-off marker as it queues the mail, in the same statement.
        let token = SecureRandom.string(count: 32)
        let marker = "sid-" + SecureRandom.hex(byteCount: 16)
        let link = "\(publicBaseURL)\(version.prefix)/validate/email/submitToken?token=\(token)&client_secret=\(BrandTemplates.escapeURL(secret))&sid=\(marker)"
        let envelope = settings.brands.message(
            "verification_template.eml", brand: brand, from: settings.mail.from, to: email,
            values: [
                "token": token, "link": link, "server_name": settings.serverName,
                "ipaddress": request.clientAddress(context: context), "brand": brand,
            ])
        let sid = try await openSession(
            medium: .email, address: email, secret: secret, sendAttempt: sendAttempt, nextLink: nextLink, token: token,
            outgoing: .mail(envelope, sidMarker: marker), logger: context.logger)
        return Response.json(["sid": .string(String(sid))])
    }

    /// `POST …/validate/msisdn/requestToken`.
    func requestMSISDNToken(_ request: Request, context: SuiteContext, version: APIVersion) async throws -> Response {
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("client_secret", "country", "phone_number")
        let secret = try parameters.clientSecret()
        guard let phone = PhoneNumber.parse(
            country: try parameters.string("country", maxBytes: 8), number: try parameters.string("phone_number", maxBytes: 64))
        else { throw Matrix.error(.badRequest, "M_INVALID_ADDRESS", "Invalid phone number") }
        let sendAttempt = try parameters.optionalInt("send_attempt")
        let nextLink = try nextLinkParameter(parameters)
        try await rateLimiter.enforce([
            (Self.requestsPerIP, request.clientAddress(context: context)), (Self.requestsPerAddress, "msisdn:" + phone.msisdn),
        ])
        // Six digits, as phones show them; ten wrong guesses end the session.
        let token = SecureRandom.string(count: 6, alphabet: Array("0123456789".utf8))
        let sid = try await openSession(
            medium: .msisdn, address: phone.msisdn, secret: secret, sendAttempt: sendAttempt, nextLink: nextLink, token: token,
            outgoing: .sms(to: phone.msisdn, body: settings.sms.body(token: token)), logger: context.logger)
        return Response.json(["sid": .string(String(sid)), "msisdn": .string(phone.msisdn), "intl_fmt": .string(phone.international)])
    }

    private func nextLinkParameter(_ parameters: MatrixParameters) throws(AppError) -> String? {
        guard let link = try parameters.optionalString("next_link", maxBytes: 2048), !link.isEmpty else { return nil }
        guard URLComponents(string: link)?.scheme != nil else { throw Matrix.invalid("next_link must be an absolute URL.") }
        return link
    }

    /// What a due session sends: a mail (whose text holds `sidMarker` where the sid
    /// goes) or a text message.
    enum Outgoing: Sendable {
        case mail(MailEnvelope, sidMarker: String)
        case sms(to: String, body: String)
    }

    /// Finds or creates the session for (medium, address, secret) and, when a message is
    /// due (`send_attempt` absent, or greater than the last one seen), records the new
    /// token and queues the message: one statement, one commit, shared with the requests
    /// that arrive meanwhile (`opener`). The upsert locks the row, so concurrent retries
    /// of one `send_attempt` take turns and only the first finds a message due. An
    /// expired session starts over under the same sid.
    private func openSession(
        medium: Medium, address: String, secret: String, sendAttempt: Int64?, nextLink: String?, token: String, outgoing: Outgoing,
        logger: Logger
    ) async throws -> Int64 {
        let input = OpenSessions.Input(
            medium: medium.rawValue, address: address, secret: secret, tokenHash: ByteBuffer(bytes: sha256(token)), sendAttempt: sendAttempt,
            nextLink: nextLink, outgoing: outgoing)
        return try await opener.submit(input, logger: logger)
    }

    // MARK: Reading sessions

    func session(_ sid: Int64, logger: Logger) async throws -> Session? {
        let rows = try await database.query(
            """
            SELECT id, medium, address, client_secret, token_hashes, next_link, validated_at, failed_attempts, last_requested_at
            FROM validation_sessions WHERE id = \(sid)
            """, logger: logger)
        for try await row in rows {
            let columns = row.makeRandomAccess()
            return Session(
                id: try columns[0].decode(Int64.self), medium: try columns[1].decode(String.self), address: try columns[2].decode(String.self),
                clientSecret: try columns[3].decode(String.self), tokenHashes: try columns[4].decode([ByteBuffer].self),
                nextLink: try columns[5].decode(String?.self), validatedAt: try columns[6].decode(Date?.self),
                failedAttempts: try columns[7].decode(Int.self), lastRequestedAt: try columns[8].decode(Date.self))
        }
        return nil
    }

    static let noSession = Matrix.error(.notFound, "M_NO_VALID_SESSION", "No valid session was found matching that sid and client secret")
    static let expired = Matrix.error(.badRequest, "M_SESSION_EXPIRED", "This validation session has expired: call requestToken again")
    static let notValidated = Matrix.error(.badRequest, "M_SESSION_NOT_VALIDATED", "This validation session has not yet been completed")

    /// The session `sid` if `secret` is its client secret (compared in constant time)
    /// and it has not expired.
    func liveSession(sid: Int64, secret: String, logger: Logger) async throws -> Session {
        guard let session = try await session(sid, logger: logger), constantTimeEquals(session.clientSecret.utf8, secret.utf8) else {
            throw Self.noSession
        }
        guard session.lastRequestedAt.timeIntervalSinceNow > -Double(settings.sessionLifetimeSeconds) else { throw Self.expired }
        return session
    }

    /// A validated, live session: what bind and unbind need.
    func validatedSession(sid: Int64, secret: String, logger: Logger) async throws -> Session {
        let session = try await liveSession(sid: sid, secret: secret, logger: logger)
        guard session.validatedAt != nil else { throw Self.notValidated }
        return session
    }

    // MARK: submitToken

    /// Checks a token; validating twice is harmless (a mail scanner fetching the link
    /// first does not spoil it for the person).
    func submit(sid: Int64, secret: String, token: String, logger: Logger) async throws -> Session {
        let session = try await liveSession(sid: sid, secret: secret, logger: logger)
        guard session.failedAttempts < Self.maxFailedAttempts else {
            throw Matrix.error(.badRequest, "M_SESSION_EXPIRED", "Too many wrong tokens: call requestToken again")
        }
        let hash = sha256(token)
        // Every stored hash is compared, in constant time each.
        var matched = false
        for stored in session.tokenHashes where constantTimeEquals(stored.readableBytesView, hash) { matched = true }
        guard matched else {
            try await database.query("UPDATE validation_sessions SET failed_attempts = failed_attempts + 1 WHERE id = \(sid)", logger: logger)
            throw Matrix.invalid("The token doesn't match")
        }
        var validated = session
        if session.validatedAt == nil {
            let rows = try await database.query(
                "UPDATE validation_sessions SET validated_at = COALESCE(validated_at, now()) WHERE id = \(sid) RETURNING validated_at",
                logger: logger)
            for try await date in rows.decode(Date.self) { validated.validatedAt = date }
        }
        return validated
    }

    /// `POST …/submitToken`: `{"success": true}`, or `success: false` with the errcode.
    func submitJSON(_ request: Request, context: SuiteContext) async throws -> Response {
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("sid", "client_secret", "token")
        // Malformed input is a 400; a well-formed attempt that fails is `success: false`.
        let secret = try parameters.clientSecret()
        let token = try parameters.string("token", maxBytes: 255)
        _ = try parameters.string("sid", maxBytes: 32)
        do {
            _ = try await submit(sid: try parameters.sid(), secret: secret, token: token, logger: context.logger)
            return Response.json(JSONValue.object(["success": .bool(true)]))
        } catch let error as AppError where error.code.hasPrefix("M_") {
            return Response.json(["success": false, "errcode": .string(error.code), "error": .string(error.detail ?? "")])
        }
    }

    /// `GET …/submitToken`: the link in the mail. A page for a person, or a redirect to
    /// `next_link` (http and https only) once validated.
    func submitPage(_ request: Request, context: SuiteContext) async throws -> Response {
        let query = MatrixParameters.query(request)
        let brand = settings.brands.brand(request.uri.queryParameters["brand"].map(String.init))
        let message: String
        var status = HTTPResponse.Status.ok
        do {
            try query.require("sid", "client_secret", "token")
            let session = try await submit(
                sid: try query.sid(), secret: try query.clientSecret(), token: try query.string("token", maxBytes: 255), logger: context.logger)
            if let link = session.nextLink, let scheme = URLComponents(string: link)?.scheme?.lowercased(), scheme == "http" || scheme == "https" {
                return Response(status: .found, headers: [.location: link, .cacheControl: "no-store"])
            }
            message = "Verification successful! Please return to your Matrix client to continue."
        } catch let error as AppError where error.code.hasPrefix("M_") {
            status = .badRequest
            message = "Verification failed: " + (error.detail ?? "the link is not valid") + "."
        }
        let page = settings.brands.render(
            "verify_response_template.html", brand: brand, values: ["message": BrandTemplates.escapeHTML(message)])
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    /// `GET …/3pid/getValidated3pid`.
    func getValidated(_ request: Request, context: SuiteContext) async throws -> Response {
        let query = MatrixParameters.query(request)
        try query.require("sid", "client_secret")
        let session = try await validatedSession(sid: try query.sid(), secret: try query.clientSecret(), logger: context.logger)
        return Response.json([
            "medium": .string(session.medium), "address": .string(session.address),
            "validated_at": .number(((session.validatedAt ?? Date()).timeIntervalSince1970 * 1000).rounded(.down)),
        ])
    }

    /// Deletes sessions that expired a lifetime ago (kept that long so a late
    /// `getValidated3pid` hears "expired", not "unknown").
    func purge(logger: Logger) async throws {
        try await database.query(
            "DELETE FROM validation_sessions WHERE last_requested_at < now() - make_interval(secs => \(Double(settings.sessionLifetimeSeconds * 2)))",
            logger: logger)
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
            INSERT INTO mail_outbox (sender, recipients, data)
            SELECT mail_sender, string_to_array(mail_recipients, E'\\n'), convert_to(replace(mail_text, sid_marker, id::text), 'UTF8')
            FROM opened WHERE due AND mail_text <> '' ORDER BY n
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
