import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import SuiteCore
import SuiteHTTP
import SuiteTesting
import Synchronization
import Testing

@testable import UserIdentity

/// Phone verification: codes sent, checked, limited and approved, with the built-in
/// provider (a folder of messages, or a Twilio-compatible Messages API) and with a fake
/// Twilio Verify over real HTTP, outages included.
@Suite struct PhoneVerificationTests {
    static func folder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("uai-sms-\(UUID().uuidString.prefix(8))").path
    }

    /// The code of the newest message in `folder`.
    static func code(in folder: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        let text = try String(contentsOfFile: folder + "/" + #require(names.last), encoding: .utf8)
        return String(try #require(text.split(separator: " ").last).prefix(6))
    }

    @Test func aCodeSentToAPhoneApprovesIt() async throws {
        let folder = Self.folder()
        try await UAI.run(configure: { $0.phones.provider = .builtIn(.file(directory: folder)) }) { uai in
            try await uai.user("ann@example.com")
            let token = try await uai.login("ann@example.com").access
            let started = try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789", "channel": "sms", "locale": "en"], token: token)
            #expect(started.status == 201, "\(started.text)")
            #expect(started.json?["phone"] == "+447123456789" && started.json?["channel"] == "sms" && started.json?["status"] == "pending")
            #expect(started.json?["id"]?.stringValue?.hasPrefix("VE") == true)
            let message = try String(contentsOfFile: folder + "/" + FileManager.default.contentsOfDirectory(atPath: folder)[0], encoding: .utf8)
            #expect(message.hasPrefix("To: +447123456789"))
            let code = try Self.code(in: folder)

            let wrong = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+447123456789", "code": code == "000000" ? "111111" : "000000"], token: token)
            #expect(wrong.status == 200 && wrong.json?["valid"] == false && wrong.json?["status"] == "pending", "\(wrong.text)")
            let right = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+44 7123 456789", "code": .string(code)], token: token)
            #expect(right.status == 200 && right.json?["valid"] == true && right.json?["status"] == "approved", "\(right.text)")
            #expect(right.json?["id"] == started.json?["id"])
            let again = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+447123456789", "code": .string(code)], token: token)
            #expect(again.status == 404 && again.json?["detail"] == "Pending phone verification not found.")
            for (type, count) in [("PhoneVerificationWasCreated", 1), ("PhoneVerificationWasInvalid", 1), ("PhoneVerificationWasApproved", 1)] {
                #expect(try await uai.count("SELECT count(*)::int FROM domain_events WHERE type_name = '\(type)'") == count, "\(type)")
            }

            // A new code replaces the old one; a call is written as such.
            #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": "+34600111222"], token: token).status == 201)
            let first = try Self.code(in: folder)
            try await Task.sleep(for: .milliseconds(5))
            #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": "+34600111222", "channel": "call"], token: token).status == 201)
            let second = try Self.code(in: folder)
            if first != second {
                let old = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+34600111222", "code": .string(first)], token: token)
                #expect(old.json?["valid"] == false)
            }
            let new = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+34600111222", "code": .string(second)], token: token)
            #expect(new.json?["valid"] == true && new.json?["channel"] == "call")
        }
    }

    @Test func badInputIsNamedAndAttemptsAreLimited() async throws {
        let folder = Self.folder()
        try await UAI.run(configure: { $0.phones = PhoneVerificationSettings(provider: .builtIn(.file(directory: folder)), maxAttempts: 2) }) { uai in
            try await uai.user("ann@example.com")
            let token = try await uai.login("ann@example.com").access
            #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789"]).status == 401)
            for (body, field) in [
                (["phone": "07123456789"] as JSONValue, "phone"), (["phone": "+0447123456789"], "phone"), (["phone": "+44712345678901234"], "phone"),
                ([:], "phone"), (["phone": "+447123456789", "channel": "fax"], "channel"), (["phone": "+447123456789", "locale": "not a locale"], "locale"),
            ] {
                let answer = try await uai.call(.POST, "/phone-verifications", json: body, token: token)
                #expect(answer.status == 422 && answer.json?["validationMessages"]?[field] != nil, "\(body): \(answer.text)")
            }
            #expect(try await uai.count("SELECT count(*)::int FROM phone_verifications") == 0)
            let noPending = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+447123456789", "code": "123456"], token: token)
            #expect(noPending.status == 404)
            let letters = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+447123456789", "code": "12ab56"], token: token)
            #expect(letters.status == 422 && letters.json?["validationMessages"]?["code"] != nil)

            #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789"], token: token).status == 201)
            let code = try Self.code(in: folder)
            let wrong = code == "000000" ? "111111" : "000000"
            let first = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+447123456789", "code": .string(wrong)], token: token)
            #expect(first.json?["status"] == "pending")
            let last = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+447123456789", "code": .string(wrong)], token: token)
            #expect(last.json?["status"] == "canceled" && last.json?["valid"] == false)
            // Spent: even the right code finds nothing pending now.
            let late = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+447123456789", "code": .string(code)], token: token)
            #expect(late.status == 404)
        }
    }

    @Test func requestsAreRateLimitedPerUserAndPerNumber() async throws {
        let folder = Self.folder()
        try await UAI.run(rateLimits: RateLimitSettings(enabled: true), configure: { $0.phones.provider = .builtIn(.file(directory: folder)) }) { uai in
            try await uai.user("ann@example.com")
            try await uai.user("bob@example.com")
            let ann = try await uai.login("ann@example.com").access
            let bob = try await uai.login("bob@example.com").access
            for index in 0..<5 {
                #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": .string("+4471234567\(10 + index)")], token: ann).status == 201)
            }
            let limited = try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456799"], token: ann)
            #expect(limited.status == 429 && limited.header("Retry-After") != nil)
            // Another user asking for a number already sent five codes is limited too.
            for _ in 0..<4 { _ = try await uai.call(.POST, "/phone-verifications", json: ["phone": "+34600000001"], token: bob) }
            #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": "+34600000001"], token: bob).status == 201)
            #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": "+34600000001"], token: bob).status == 429)
        }
    }

    @Test func aMessagesProviderThatIsDownStartsNothing() async throws {
        let port = try FreePort.next()
        try await UAI.run(configure: {
            $0.phones.provider = .builtIn(.twilio(baseURL: "http://127.0.0.1:\(port)", accountSID: "AC1", authToken: "token", from: "+15550001111"))
        }) { uai in
            try await uai.user("ann@example.com")
            let token = try await uai.login("ann@example.com").access
            let answer = try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789"], token: token)
            #expect(answer.status == 503 && answer.header("Content-Type") == "application/problem+json", "\(answer.text)")
            #expect(try await uai.count("SELECT count(*)::int FROM phone_verifications") == 0)
            #expect(try await uai.count("SELECT count(*)::int FROM domain_events WHERE type_name LIKE 'PhoneVerification%'") == 0)
        }
    }

    @Test func twilioVerifyMakesSendsAndChecksTheCode() async throws {
        let fake = FakeTwilioVerify(port: try FreePort.next())
        try await UAI.run(
            configure: {
                $0.phones.provider = .twilioVerify(baseURL: "http://127.0.0.1:\(fake.port)", accountSID: "AC1", authToken: "auth-token", serviceSID: "VA1")
            }, alongside: [fake.application], readyURLs: ["http://127.0.0.1:\(fake.port)/"]
        ) { uai in
            try await uai.user("ann@example.com")
            let token = try await uai.login("ann@example.com").access
            let started = try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789", "channel": "call", "locale": "es"], token: token)
            #expect(started.status == 201 && started.json?["id"] == "VE0001" && started.json?["status"] == "pending", "\(started.text)")
            let request = try #require(fake.requests.withLock { $0.first })
            #expect(request.path == "/v2/Services/VA1/Verifications" && request.authorization == TextMessageSender.basic("AC1", "auth-token"))
            #expect(request.fields == ["To": "+447123456789", "Channel": "call", "Locale": "es"])

            let wrong = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+447123456789", "code": "999999"], token: token)
            #expect(wrong.status == 200 && wrong.json?["valid"] == false && wrong.json?["status"] == "pending")
            let right = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+447123456789", "code": "123456"], token: token)
            #expect(right.status == 200 && right.json?["valid"] == true && right.json?["status"] == "approved", "\(right.text)")

            // The provider forgot it (expired on its side): not found here either.
            #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789"], token: token).status == 201)
            fake.mode.withLock { $0 = .notFound }
            let gone = try await uai.call(.POST, "/phone-verifications/check", json: ["phone": "+447123456789", "code": "123456"], token: token)
            #expect(gone.status == 404)
            // Too many attempts at the provider; an outage; an unreadable answer.
            fake.mode.withLock { $0 = .tooMany }
            #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789"], token: token).status == 429)
            fake.mode.withLock { $0 = .failing }
            let outage = try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789"], token: token)
            #expect(outage.status == 502 && outage.header("Content-Type") == "application/problem+json")
            fake.mode.withLock { $0 = .garbage }
            #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789"], token: token).status == 502)
            fake.mode.withLock { $0 = .badNumber }
            let badNumber = try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789"], token: token)
            #expect(badNumber.status == 422 && badNumber.json?["validationMessages"]?["phone"] != nil)
        }
        // The provider not there at all.
        try await UAI.run(configure: {
            $0.phones.provider = .twilioVerify(baseURL: "http://127.0.0.1:\(try! FreePort.next())", accountSID: "AC1", authToken: "t", serviceSID: "VA1")
        }) { uai in
            try await uai.user("ann@example.com")
            let token = try await uai.login("ann@example.com").access
            #expect(try await uai.call(.POST, "/phone-verifications", json: ["phone": "+447123456789"], token: token).status == 503)
        }
    }
}

/// Twilio Verify, as far as the service uses it: one verification per number, the code
/// is always 123456.
final class FakeTwilioVerify: Sendable {
    enum Mode: Sendable { case normal, notFound, tooMany, failing, garbage, badNumber }
    struct Received: Sendable {
        let path: String
        let authorization: String
        let fields: [String: String]
    }

    let port: Int
    let requests = Mutex<[Received]>([])
    let mode = Mutex(Mode.normal)
    let counter = Mutex(0)

    init(port: Int) {
        self.port = port
    }

    var application: some Service {
        let router = Router()
        router.get("/") { _, _ in "verify" }
        router.post("/v2/Services/{service}/{operation}") { request, context -> Response in
            var request = request
            let fields = try Request.parseForm(String(buffer: try await request.collectBody(upTo: 1 << 16)))
            self.requests.withLock {
                $0.append(Received(path: request.uri.path, authorization: request.headers[.authorization] ?? "", fields: fields))
            }
            func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
                Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
            }
            switch self.mode.withLock({ $0 }) {
            case .notFound: return json(.notFound, #"{"code":20404,"message":"not found","status":404}"#)
            case .tooMany: return json(.tooManyRequests, #"{"code":60203,"message":"Max send attempts reached","status":429}"#)
            case .failing: return Response(status: .internalServerError)
            case .garbage: return json(.ok, "<html>")
            case .badNumber: return json(.badRequest, #"{"code":60200,"message":"Invalid parameter `To`","status":400}"#)
            case .normal: break
            }
            let to = fields["To"] ?? ""
            if context.parameters.get("operation") == "Verifications" {
                let number = self.counter.withLock { $0 += 1; return $0 }
                let sid = "VE" + String(repeating: "0", count: 4 - String(number).count) + String(number)
                return json(.created, #"{"sid":"\#(sid)","to":"\#(to)","channel":"\#(fields["Channel"] ?? "")","status":"pending","valid":false}"#)
            }
            let valid = fields["Code"] == "123456"
            return json(.ok, #"{"sid":"VE0001","to":"\#(to)","status":"\#(valid ? "approved" : "pending")","valid":\#(valid)}"#)
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
    }
}
