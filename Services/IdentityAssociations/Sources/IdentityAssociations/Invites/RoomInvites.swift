import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SuiteContracts
import SuiteCore
import SuiteHTTP
import SuiteMail
import SuiteSigning

/// `POST /internal/invites` (`SuiteContracts.InviteAttendees`): meet-rooms hands
/// over the attendees of a room; each new (room, email) gets one invitation mail, queued
/// in the same transaction that records it. Repeating a call sends nothing new.
struct RoomInvites: Sendable {
    let database: PostgresClient
    let settings: IdentitySettings
    let logger: Logger

    func add(to router: Router<SuiteContext>, verifier: ServiceTokenVerifier) {
        router.group("/internal/invites")
            .add(middleware: ServiceTokenMiddleware<SuiteContext>(verifier: verifier, scope: InviteAttendees.scope.rawValue))
            .post { request, context -> Response in
                let input = try await request.decodeJSON(as: RoomInvitation.self, context: context)
                guard let room = UUID(uuidString: input.room_id) else { throw AppError.badRequest("room_id must be a UUID.") }
                guard let url = URLComponents(string: input.room_url), ["http", "https"].contains(url.scheme ?? "") else {
                    throw AppError.badRequest("room_url must be an http(s) URL.")
                }
                guard input.emails.count <= 200, input.emails.allSatisfy(Validate.isEmail) else {
                    throw AppError.badRequest("emails must be at most 200 email addresses.")
                }
                let emails = Array(Set(input.emails.map(Matrix.foldedEmail))).sorted()
                let name = String(input.room_name.prefix(200))
                let output = try await database.withTransaction(logger: context.logger) { connection in
                    var result = RoomInvitationResult(invited: [], already_invited: [])
                    for email in emails {
                        let inserted = try await connection.query(
                            """
                            INSERT INTO room_invites (room_id, email, room_name, room_url) VALUES (\(room), \(email), \(name), \(input.room_url))
                            ON CONFLICT DO NOTHING RETURNING 1
                            """, logger: context.logger)
                        var isNew = false
                        for try await _ in inserted { isNew = true }
                        guard isNew else {
                            result.already_invited.append(email)
                            continue
                        }
                        let rendered = try settings.templates.render(
                            "room-invite", locale: input.locale, values: ["room_name": name, "room_url": input.room_url, "email": email])
                        let message = MailMessage(
                            from: settings.mail.from, to: [email], subject: rendered.subject, text: rendered.text, html: rendered.html)
                        let mailID = try await MailOutbox.enqueue(message.envelope(), on: connection, logger: context.logger)
                        try await connection.query(
                            "UPDATE room_invites SET mail_id = \(mailID) WHERE room_id = \(room) AND email = \(email)", logger: context.logger)
                        result.invited.append(email)
                    }
                    return result
                }
                context.logger.info(
                    "room invites", metadata: ["room_id": "\(room)", "invited": "\(output.invited.count)", "caller": "\(context.serviceCaller?.service ?? "")"])
                return try Response.json(output)
            }
    }
}
