import Foundation
import Logging
import PostgresNIO
import SuiteMail

/// Composes this service's mails from the templates and queues them in the caller's
/// transaction.
struct UserMailer: Sendable {
    let templates: MailTemplates
    let from: String
    let logger: Logger

    enum Kind: String {
        case activation, invitation
        case emailChange = "email-change"
        case emailChanged = "email-changed"
        case forgottenPassword = "forgotten-password"
    }

    @discardableResult
    func queue(_ kind: Kind, to user: User, address: String? = nil, values: [String: String], on connection: PostgresConnection)
        async throws -> Int64
    {
        var values = values
        values["fullname"] = user.fullname
        values["email"] = address ?? user.email
        let rendered = try templates.render(kind.rawValue, locale: user.locale, values: values)
        let message = MailMessage(
            from: from, to: [address ?? user.email], subject: rendered.subject, text: rendered.text, html: rendered.html)
        let id = try await MailOutbox.enqueue(message.envelope(), on: connection, logger: logger)
        logger.info("mail queued", metadata: ["kind": "\(kind.rawValue)", "user_id": "\(user.idString)", "outbox_id": "\(id)"])
        return id
    }
}

/// A `callback_url` with `:id` where the secret goes, as the seed writes them.
enum CallbackURL {
    /// Checks the URL and returns the problem to report, if any: http(s), absolute, and
    /// on an allowed host when the operator lists some.
    static func problem(_ url: String, allowedHosts: Set<String>) -> (rule: String, message: String)? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { return ("callbackUrlInvalid", "The input is not a valid http or https URL") }
        if !allowedHosts.isEmpty && !allowedHosts.contains(host.lowercased()) {
            return ("callbackUrlNotAllowed", "The host \(host) is not an allowed callback host")
        }
        return nil
    }

    /// The link the mail carries.
    static func link(_ url: String, secret: String) -> String {
        url.contains(":id") ? url.replacingOccurrences(of: ":id", with: secret) : url + (url.hasSuffix("/") ? "" : "/") + secret
    }
}
