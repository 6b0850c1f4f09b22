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
        /// To the address an account left: it was changed, to which address, and what to do
        /// if it was not the owner.
        case emailChangedNotice = "email-changed-notice"
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
    /// on an allowed host (the operator's list, or `defaultHosts` when none is set).
    static func problem(_ url: String, allowedHosts: Set<String>) -> (rule: String, message: String)? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { return ("callbackUrlInvalid", "The input is not a valid http or https URL") }
        if !allowedHosts.isEmpty && !allowedHosts.contains(host.lowercased()) {
            return ("callbackUrlNotAllowed", "The host \(host) is not an allowed callback host")
        }
        return nil
    }

    /// The hosts callbacks may use when `UAI_CALLBACK_HOSTS` is unset: `PUBLIC_URL`'s host,
    /// and the loopback names too when that host is itself local (development).
    static func defaultHosts(publicURL: String) -> Set<String> {
        guard let host = URLComponents(string: publicURL)?.host?.lowercased(), !host.isEmpty else { return ["localhost"] }
        let local: Set<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
        return local.contains(host) ? local : [host]
    }

    /// The link the mail carries.
    static func link(_ url: String, secret: String) -> String {
        url.contains(":id") ? url.replacingOccurrences(of: ":id", with: secret) : url + (url.hasSuffix("/") ? "" : "/") + secret
    }
}
