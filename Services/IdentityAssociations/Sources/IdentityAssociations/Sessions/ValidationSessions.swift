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
    let store: ValidationSessionStore
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
        let store = ValidationSessionStore(database: database)
        self.store = store
        self.settings = settings
        self.publicBaseURL = publicBaseURL
        self.rateLimiter = rateLimiter
        let lifetime = Double(settings.sessionLifetimeSeconds)
        opener = WriteBatcher(key: \.key) { inputs, logger in try await store.open(inputs, lifetimeSeconds: lifetime, logger: logger) }
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
        try await store.session(sid, logger: logger)
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
            try await store.countFailedAttempt(sid, logger: logger)
            throw Matrix.invalid("The token doesn't match")
        }
        var validated = session
        if session.validatedAt == nil {
            if let date = try await store.markValidated(sid, logger: logger) { validated.validatedAt = date }
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
        try await store.purge(olderThanSeconds: settings.sessionLifetimeSeconds * 2, logger: logger)
    }
}
