import AsyncHTTPClient
import Foundation
import NIOCore
import SuiteCore
import SuiteHTTP

/// Who sends and checks phone verification codes (`UAI_PHONE_PROVIDER`).
public struct PhoneVerificationSettings: Sendable, Equatable {
    public enum Provider: Sendable, Equatable {
        /// The service makes the code, keeps its hash and sends it as a text message
        /// (`UAI_SMS_PROVIDER`: a folder, or a Twilio-compatible Messages API), like
        /// identity-associations' SMS.
        case builtIn(TextMessageProvider)
        /// A Twilio-Verify-compatible API makes, sends and checks the code:
        /// `POST {baseURL}/v2/Services/{serviceSID}/Verifications` and `…/VerificationCheck`.
        case twilioVerify(baseURL: String, accountSID: String, authToken: String, serviceSID: String)
    }

    enum Kind: String, CaseIterable {
        case builtIn = "built-in"
        case twilioVerify = "twilio-verify"
    }

    public var provider: Provider
    /// How long a code works (Twilio Verify's default: ten minutes).
    public var codeTTL: Int
    /// Wrong codes allowed per verification before it is cancelled.
    public var maxAttempts: Int

    public init(provider: Provider = .builtIn(.file(directory: "sms")), codeTTL: Int = 600, maxAttempts: Int = 5) {
        self.provider = provider
        self.codeTTL = codeTTL
        self.maxAttempts = maxAttempts
    }

    static func load(_ reader: ConfigReader) throws(ConfigurationError) -> PhoneVerificationSettings {
        let provider: Provider
        switch try reader.choice("UAI_PHONE_PROVIDER", default: Kind.builtIn) {
        case .builtIn: provider = .builtIn(try TextMessageProvider.load(reader, prefix: "UAI"))
        case .twilioVerify:
            provider = .twilioVerify(
                baseURL: try reader.url("UAI_TWILIO_VERIFY_URL", default: "https://verify.twilio.com") ?? "https://verify.twilio.com",
                accountSID: try reader.required("UAI_TWILIO_ACCOUNT_SID"), authToken: try reader.required("UAI_TWILIO_AUTH_TOKEN"),
                serviceSID: try reader.required("UAI_TWILIO_VERIFY_SERVICE_SID"))
        }
        return PhoneVerificationSettings(
            provider: provider, codeTTL: try reader.int("UAI_PHONE_CODE_TTL_SECONDS", default: 600, range: 60...86_400),
            maxAttempts: try reader.int("UAI_PHONE_MAX_ATTEMPTS", default: 5, range: 1...20))
    }

    var summary: String {
        switch provider {
        case .builtIn(let messages): "built-in codes, messages by \(messages.summary)"
        case .twilioVerify(let base, let account, _, let service): "twilio-verify \(base) account \(account) service \(service)"
        }
    }
}

/// A phone verification as the seed answers it.
struct PhoneVerification: Sendable {
    let id: String
    let phone: String
    let channel: String
    var status: String

    func json(valid: Bool? = nil) -> JSONValue {
        var object: [String: JSONValue] = ["id": .string(id), "phone": .string(phone), "channel": .string(channel), "status": .string(status)]
        if let valid { object["valid"] = .bool(valid) }
        return .object(object)
    }

    static let channels: Set<String> = ["sms", "call"]

    /// E.164: `+`, a country code that does not start with 0, 7 to 15 digits in all.
    static func isE164(_ text: String) -> Bool {
        let digits = text.utf8.dropFirst()
        return text.utf8.first == UInt8(ascii: "+") && (7...15).contains(digits.count) && digits.first != UInt8(ascii: "0")
            && digits.allSatisfy { (0x30...0x39).contains($0) }
    }

    /// Six random digits.
    static func newCode() -> String {
        var generator = SystemRandomNumberGenerator()
        let number = UInt32.random(in: 0..<1_000_000, using: &generator)
        let text = String(number)
        return String(repeating: "0", count: 6 - text.count) + text
    }
}

/// The Twilio Verify API (or one that speaks it): it makes, sends and checks the code.
struct TwilioVerify: Sendable {
    let baseURL: String
    let accountSID: String
    let authToken: String
    let serviceSID: String
    let http: HTTPClient
    let timeout: Duration

    struct Answer: Decodable {
        var sid: String?
        var status: String?
        var valid: Bool?
    }

    /// Starts a verification; its sid and status.
    func start(phone: String, channel: String, locale: String?) async throws(AppError) -> Answer {
        var fields = [("To", phone), ("Channel", channel)]
        if let locale { fields.append(("Locale", locale)) }
        return try await post("Verifications", fields)
    }

    /// Checks a code; nil when the provider has no pending verification for the number.
    func check(phone: String, code: String) async throws(AppError) -> Answer? {
        do {
            return try await post("VerificationCheck", [("To", phone), ("Code", code)])
        } catch where error.status == .notFound {
            return nil
        }
    }

    private func post(_ operation: String, _ fields: [(String, String)]) async throws(AppError) -> Answer {
        var request = HTTPClientRequest(url: "\(baseURL)/v2/Services/\(Percent.encode(serviceSID))/\(operation)")
        request.method = .POST
        request.headers.add(name: "Authorization", value: TextMessageSender.basic(accountSID, authToken))
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: TextMessageSender.form(fields)))
        let (status, body) = try await InternalClient.thirdParty(
            request, party: "The phone verification provider", http: http, timeout: timeout, limit: 64 * 1024)
        switch status {
        case 200..<300:
            guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(buffer: body)) else {
                throw AppError.badGateway("The phone verification provider's answer could not be read.")
            }
            return answer
        case 404: throw Problem.notFound("Pending phone verification not found.")
        case 429: throw AppError.tooManyRequests(retryAfterSeconds: 600, detail: "Too many attempts for this phone number; try again later.")
        case 400:
            // Twilio's 60200 "Invalid parameter": the number cannot be reached this way.
            throw Problem.invalid("phone", "phoneNotReachable", "The phone number cannot receive a code this way")
        default: throw AppError.badGateway("The phone verification provider answered \(status).")
        }
    }
}
