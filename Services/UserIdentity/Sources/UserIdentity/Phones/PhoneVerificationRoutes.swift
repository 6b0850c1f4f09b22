import Foundation
import Hummingbird
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// `POST /phone-verifications` (send a code to the caller's phone) and
/// `POST /phone-verifications/check` (approve it with the code), with the built-in
/// provider or Twilio Verify.
struct PhoneVerificationRoutes {
    let core: Core
    var settings: PhoneVerificationSettings { core.settings.phones }
    var store: PhoneVerificationStore { PhoneVerificationStore(logger: core.logger) }

    static let byUser = RateLimit(name: "phone-verification-user", limit: 5, windowSeconds: 3_600)
    static let byNumber = RateLimit(name: "phone-verification-number", limit: 5, windowSeconds: 3_600)

    struct Start: Decodable {
        var phone: String?
        var channel: String?
        var locale: String?
    }

    struct Check: Decodable {
        var phone: String?
        var code: String?
    }

    func add(to router: Router<UAIContext>) {
        let signedIn = router.group().add(middleware: core.tokens.authenticator)
        signedIn.post("/phone-verifications") { request, context in try await start(request, context) }
        signedIn.post("/phone-verifications/check") { request, context in try await check(request, context) }
    }

    func start(_ request: Request, _ context: UAIContext) async throws -> Response {
        let caller = try await core.activeCaller(context)
        let input = try await request.decodeJSON(as: Start.self, context: context)
        var validator = Validator()
        let phone = validator.phone(input.phone)
        let channel = input.channel.map { $0.lowercased() } ?? "sms"
        if !PhoneVerification.channels.contains(channel) {
            validator.messages.add("channel", "notInArray", "The input was not found in the haystack")
        }
        let locale = input.locale.map { validator.locale($0) }
        try validator.checkSeed()
        guard let phone, let user = UUID(uuidString: caller.user_id) else { throw Problem.unprocessable(validator.messages) }
        try await core.rateLimiter.enforce([(Self.byUser, caller.user_id), (Self.byNumber, phone)])

        var verification: PhoneVerification
        var codeHash: [UInt8]?
        var code: String?
        switch settings.provider {
        case .builtIn:
            verification = PhoneVerification(id: "VE" + SecureRandom.hex(byteCount: 16), phone: phone, channel: channel, status: "pending")
            code = PhoneVerification.newCode()
            codeHash = Self.digest(id: verification.id, code: code ?? "")
        case .twilioVerify:
            let answer = try await twilio().start(phone: phone, channel: channel, locale: locale)
            guard let sid = answer.sid, !sid.isEmpty, sid.count <= 64 else {
                throw AppError.badGateway("The phone verification provider answered without a verification id.")
            }
            verification = PhoneVerification(id: sid, phone: phone, channel: channel, status: answer.status ?? "pending")
        }
        let started = verification
        try await core.transaction { connection in
            try await store.start(started, user: user, codeHash: codeHash, ttl: settings.codeTTL, on: connection)
            try await EventStore.record(
                "PhoneVerificationWasCreated",
                ["userId": .string(caller.user_id), "verificationId": .string(started.id), "phone": .string(phone), "channel": .string(channel)],
                on: connection, logger: core.logger)
            // The built-in provider's message goes out before the commit: if it cannot be
            // sent, nothing was started.
            if case .builtIn(let messages) = settings.provider, let code {
                try await send(code, to: phone, channel: channel, locale: locale, by: messages)
            }
        }
        return Response.json(verification.json(), status: .created)
    }

    func check(_ request: Request, _ context: UAIContext) async throws -> Response {
        let caller = try await core.activeCaller(context)
        let input = try await request.decodeJSON(as: Check.self, context: context)
        var validator = Validator()
        let phone = validator.phone(input.phone)
        let code = validator.required(input.code, field: "code")
        if let code, !((4...10).contains(code.count) && code.allSatisfy(\.isASCII) && code.allSatisfy(\.isNumber)) {
            validator.messages.add("code", "digitsOnly", "The input must be 4 to 10 digits")
        }
        try validator.checkSeed()
        guard let phone, let code, let user = UUID(uuidString: caller.user_id) else { throw Problem.unprocessable(validator.messages) }

        let (verification, valid) = try await core.transaction { connection -> (PhoneVerification, Bool) in
            guard let pending = try await store.lockPending(user: user, phone: phone, on: connection) else {
                throw Problem.notFound("Pending phone verification not found.")
            }
            var verification = pending.verification
            let attempts = pending.attempts + 1
            let valid: Bool
            switch settings.provider {
            case .builtIn:
                valid = pending.codeHash.map { constantTimeEquals($0, Self.digest(id: verification.id, code: code)) } ?? false
                verification.status = valid ? "approved" : attempts >= settings.maxAttempts ? "canceled" : "pending"
            case .twilioVerify:
                guard let answer = try await twilio().check(phone: phone, code: code) else {
                    verification.status = "expired"
                    try await store.update(verification.id, status: verification.status, attempts: attempts, on: connection)
                    return (verification, false)
                }
                valid = answer.valid ?? (answer.status == "approved")
                verification.status = answer.status ?? (valid ? "approved" : "pending")
            }
            try await store.update(verification.id, status: verification.status, attempts: attempts, on: connection)
            try await EventStore.record(
                valid ? "PhoneVerificationWasApproved" : "PhoneVerificationWasInvalid",
                ["userId": .string(caller.user_id), "verificationId": .string(verification.id), "phone": .string(phone)],
                on: connection, logger: core.logger)
            return (verification, valid)
        }
        // The provider had no pending verification for the number any more.
        if verification.status == "expired" { throw Problem.notFound("Pending phone verification not found.") }
        return Response.json(verification.json(valid: valid))
    }

    func twilio() throws(AppError) -> TwilioVerify {
        guard case .twilioVerify(let base, let account, let token, let service) = settings.provider else { throw AppError.internalError }
        return TwilioVerify(baseURL: base, accountSID: account, authToken: token, serviceSID: service, http: core.http, timeout: .seconds(5))
    }

    func send(_ code: String, to phone: String, channel: String, locale: String?, by provider: TextMessageProvider) async throws {
        let spanish = locale?.lowercased().hasPrefix("es") == true
        let body = spanish ? "Tu código de verificación es \(code)" : "Your verification code is \(code)"
        do {
            try await TextMessageSender(provider: provider, http: core.http).send(to: phone, body: body, kind: channel, timeout: .seconds(5))
        } catch let error as TextMessageError {
            core.logger.warning("phone verification message not sent", metadata: ["error": "\(error.description)"])
            if error.permanent { throw Problem.invalid("phone", "phoneNotReachable", "The phone number cannot receive a code this way") }
            throw AppError.badGateway("The text message provider refused the message.")
        } catch {
            core.logger.warning("phone verification message not sent", metadata: ["error": "\(String(reflecting: error))"])
            throw AppError.unavailable("The text message provider is unavailable.", retryAfterSeconds: 1)
        }
    }

    /// The code is six digits: its hash is salted with the verification's id, and
    /// guessing is bounded by the attempts allowed.
    static func digest(id: String, code: String) -> [UInt8] { sha256(id + ":" + code) }
}

extension Validator {
    /// A phone number in E.164 (`+447123456789`); spaces, dashes and dots are dropped.
    mutating func phone(_ value: String?) -> String? {
        guard let value = required(value, field: "phone") else { return nil }
        let compact = value.filter { $0 != " " && $0 != "-" && $0 != "." && $0 != "(" && $0 != ")" }
        guard PhoneVerification.isE164(compact) else {
            messages.add("phone", "phoneNumberInvalid", "The input must be a phone number in E.164 format, such as +447123456789")
            return nil
        }
        return compact
    }
}
