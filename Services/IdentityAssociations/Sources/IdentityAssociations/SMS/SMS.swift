import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import SuiteCore
import SuiteHTTP
import SuitePostgres

/// Where text messages go (`IS_SMS_PROVIDER`): a folder in development and tests (the
/// log never sees a code), or any Twilio-compatible HTTP API.
public struct SMSSettings: Sendable {
    public typealias Provider = TextMessageProvider

    public var provider: Provider
    /// The message body; `{{token}}` is the code.
    public var template: String

    public init(provider: Provider = .file(directory: "sms"), template: String = "Your verification code is {{token}}") {
        self.provider = provider
        self.template = template
    }

    /// `IS_SMS_PROVIDER` and its settings (`TextMessageProvider.load`), `IS_SMS_TEMPLATE`.
    static func load(_ reader: ConfigReader) throws(ConfigurationError) -> SMSSettings {
        let template = try reader.string("IS_SMS_TEMPLATE", default: "Your verification code is {{token}}")
        guard template.contains("{{token}}") else { throw ConfigurationError("IS_SMS_TEMPLATE", "must contain {{token}}") }
        return SMSSettings(provider: try TextMessageProvider.load(reader, prefix: "IS"), template: template)
    }

    var summary: String { provider.summary }

    func body(token: String) -> String { template.replacingOccurrences(of: "{{token}}", with: token) }
}

/// Text messages wait in `sms_outbox`, written in the request's transaction, and go out
/// from `SMSWorker`: a slow or failing provider never holds a request up, and a message
/// is retried with backoff instead of lost.
enum SMSOutbox {
    static let tableSQL = LeasedOutbox.tableSQL("sms_outbox", payload: ["recipient text NOT NULL", "body text NOT NULL"])
}

/// Why a text message or a bind notification did not go out (kept in `last_error`).
struct DeliveryError: Error, CustomStringConvertible {
    let description: String
}

/// Delivers the due text messages; run every half second by a `Periodic`.
struct SMSWorker: Sendable {
    let database: PostgresClient
    let settings: SMSSettings
    let http: HTTPClient
    let logger: Logger
    var observer: (any OutboxObserver)?

    @discardableResult
    func deliverDue() async throws -> Int {
        let outbox = LeasedOutbox(table: "sms_outbox", payload: "recipient, body", database: database, logger: logger, observer: observer)
        return try await outbox.deliverEach({ (try $0[0].decode(String.self), try $0[1].decode(String.self)) }) { message in
            try await send(to: message.0, body: message.1)
        }
    }

    func send(to msisdn: String, body: String) async throws {
        do {
            try await TextMessageSender(provider: settings.provider, http: http).send(to: "+" + msisdn, body: body)
        } catch let error as TextMessageError {
            throw DeliveryError(description: error.description)
        }
    }
}
