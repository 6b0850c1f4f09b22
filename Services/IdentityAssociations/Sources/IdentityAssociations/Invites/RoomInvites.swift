import Foundation
import Hummingbird
import Logging
import SuiteContracts
import SuiteCore
import SuiteHTTP
import SuiteMail
import SuiteSigning

/// `POST /internal/invites` (`SuiteContracts.InviteAttendees`): meet-rooms hands
/// over the attendees of a room; each new (room, email) gets one invitation mail, queued
/// in the same transaction that records it. Repeating a call sends nothing new.
struct RoomInvites: Sendable {
    let store: InviteStore
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
                let (settings, locale, roomURL) = (self.settings, input.locale, input.room_url)
                let (invited, already) = try await store.inviteToRoom(room, name: name, url: roomURL, emails: emails, logger: context.logger) { email in
                    let rendered = try settings.templates.render(
                        "room-invite", locale: locale, values: ["room_name": name, "room_url": roomURL, "email": email])
                    return MailMessage(from: settings.mail.from, to: [email], subject: rendered.subject, text: rendered.text, html: rendered.html)
                        .envelope()
                }
                let output = RoomInvitationResult(invited: invited, already_invited: already)
                context.logger.info(
                    "room invites", metadata: ["room_id": "\(room)", "invited": "\(output.invited.count)", "caller": "\(context.serviceCaller?.service ?? "")"])
                return try Response.json(output)
            }
    }
}
