public import AsyncHTTPClient
import Foundation
import NIOCore
public import SuiteCore

/// Where a service's text messages go: a folder in development and tests (one file per
/// message, so no log ever holds a code), or any Twilio-compatible Messages API.
/// identity-associations' SMS and user-identity's phone verification share it.
public enum TextMessageProvider: Sendable, Equatable {
    /// One file per message in a folder.
    case file(directory: String)
    /// `POST {baseURL}/2010-04-01/Accounts/{accountSID}/Messages.json`, basic auth.
    case twilio(baseURL: String, accountSID: String, authToken: String, from: String)

    enum Kind: String, CaseIterable {
        case file, twilio
    }

    /// `<prefix>_SMS_PROVIDER` (`file`, `twilio`), `<prefix>_SMS_DIR`, `<prefix>_TWILIO_URL`,
    /// `_TWILIO_ACCOUNT_SID`, `_TWILIO_AUTH_TOKEN`, `_SMS_FROM`.
    public static func load(_ reader: ConfigReader, prefix: String) throws(ConfigurationError) -> TextMessageProvider {
        switch try reader.choice(prefix + "_SMS_PROVIDER", default: Kind.file) {
        case .file: return .file(directory: try reader.string(prefix + "_SMS_DIR", default: "sms"))
        case .twilio:
            return .twilio(
                baseURL: try reader.url(prefix + "_TWILIO_URL", default: "https://api.twilio.com") ?? "https://api.twilio.com",
                accountSID: try reader.required(prefix + "_TWILIO_ACCOUNT_SID"), authToken: try reader.required(prefix + "_TWILIO_AUTH_TOKEN"),
                from: try reader.required(prefix + "_SMS_FROM"))
        }
    }

    public var summary: String {
        switch self {
        case .file(let directory): "file \(directory)"
        case .twilio(let base, let sid, _, let from): "twilio \(base) account \(sid) from \(from)"
        }
    }
}

/// Why a text message did not go out.
public struct TextMessageError: Error, CustomStringConvertible {
    public let description: String
    /// The provider refused this message for good (a bad number): retrying will not help.
    public let permanent: Bool

    public init(_ description: String, permanent: Bool = false) {
        self.description = description
        self.permanent = permanent
    }
}

public struct TextMessageSender: Sendable {
    public let provider: TextMessageProvider
    let http: HTTPClient

    public init(provider: TextMessageProvider, http: HTTPClient) {
        self.provider = provider
        self.http = http
    }

    /// Sends `body` to `number` (E.164, with its `+`); `kind` is `sms`, or `call` for a
    /// voice message (written as such by the file provider).
    public func send(to number: String, body: String, kind: String = "sms", timeout: Duration = .seconds(15)) async throws {
        switch provider {
        case .file(let directory):
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let name = "\(Int(Date().timeIntervalSince1970 * 1000))-\(SecureRandom.hex(byteCount: 4)).txt"
            let text = (kind == "call" ? "Call: " : "To: ") + number + "\n\n" + body + "\n"
            guard FileManager.default.createFile(atPath: directory + "/" + name, contents: Data(text.utf8)) else {
                throw TextMessageError("cannot write to \(directory)")
            }
        case .twilio(let base, let sid, let token, let from):
            var request = HTTPClientRequest(url: "\(base)/2010-04-01/Accounts/\(Percent.encode(sid))/Messages.json")
            request.method = .POST
            request.headers.add(name: "Authorization", value: Self.basic(sid, token))
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: Self.form([("To", number), ("From", from), ("Body", body)])))
            let response = try await http.execute(request, deadline: InternalClient.deadline(timeout))
            let answer = try await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(response.status.code) else {
                throw TextMessageError(
                    "provider answered \(response.status.code): \(String(buffer: answer).prefix(200))", permanent: response.status.code == 400)
            }
        }
    }

    public static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    /// `application/x-www-form-urlencoded`.
    public static func form(_ fields: [(String, String)]) -> String {
        fields.map { Percent.encode($0.0) + "=" + Percent.encode($0.1) }.joined(separator: "&")
    }

}
