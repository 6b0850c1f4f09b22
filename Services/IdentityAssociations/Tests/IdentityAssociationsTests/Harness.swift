import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import Synchronization
import SuiteCore
import SuiteHTTP
import SuiteMail
import SuitePostgres
import SuiteSigning
import SuiteTesting
import Testing

@testable import IdentityAssociations

/// identity-associations under test (in process unless a test needs it live), mailing to an SMTP sink, with a
/// fake homeserver and a fake Twilio (third parties we cannot reach) as real HTTP
/// servers in the test process.
struct Identity: Sendable {
    let base: String
    let client: ServiceClient
    let sink: SMTPSink
    let database: PostgresClient
    let settings: IdentitySettings
    let homeserver: FakeHomeserver
    let twilio: FakeTwilio
    /// Base URLs of the other replicas (`replicas:`), on the same database.
    var replicas: [String] = []

    static let v1 = "/_matrix/identity/api/v1"
    static let v2 = "/_matrix/identity/v2"

    static func run(
        _ mode: ServiceFixture<IdentityAssociationsService>.Mode = .inProcess,
        rateLimits: RateLimitSettings = RateLimitSettings(enabled: false), replicas: Int = 1, database ownDatabase: DatabaseConfiguration? = nil,
        requestTimeout: Duration = .seconds(30),
        configure: @escaping @Sendable (inout IdentitySettings) throws -> Void = { _ in },
        _ body: @Sendable (Identity) async throws -> Void
    ) async throws {
        let homeserverPort = try FreePort.next(), twilioPort = try FreePort.next()
        let homeserver = FakeHomeserver(port: homeserverPort)
        let twilio = FakeTwilio(port: twilioPort)
        var options = ServiceFixture<IdentityAssociationsService>.Options()
        options.rateLimits = rateLimits
        options.database = ownDatabase
        options.requestTimeout = requestTimeout
        options.replicas = replicas
        try await ServiceFixture.run(
            IdentityAssociationsService.self, mode: mode, options: options, alongside: [homeserver.application, twilio.application],
            readyURLs: ["http://127.0.0.1:\(homeserverPort)/", "http://127.0.0.1:\(twilioPort)/"]
        ) { port, sink in
            var settings = IdentitySettings(
                serverName: "id.example.org", publicBaseURL: "http://127.0.0.1:\(port)",
                mail: MailSettings(from: "identity@example.org", transport: .smtp(SMTPConfiguration(host: "127.0.0.1", port: sink.port))),
                templates: try MailTemplates(builtIn: IdentityAssociations.BuiltInTemplates.all),
                sms: SMSSettings(provider: .twilio(baseURL: "http://127.0.0.1:\(twilioPort)", accountSID: "AC123", authToken: "secret-token", from: "+15550001111")),
                homeserverBaseURL: "http://127.0.0.1:\(homeserverPort)")
            try configure(&settings)
            return settings
        } _: { service in
            var identity = Identity(
                base: service.base, client: service.client, sink: service.sink, database: service.database, settings: service.settings, homeserver: homeserver,
                twilio: twilio)
            identity.replicas = service.replicas
            try await body(identity)
        }
    }

    @discardableResult
    func call(
        _ method: HTTPMethod, _ path: String, json: JSONValue? = nil, token: String? = nil, headers: [(String, String)] = []
    ) async throws -> TestResponse {
        try await client.send(method, base + path, json: json, token: token, headers: headers)
    }

    func form(_ path: String, _ fields: [(String, String)]) async throws -> TestResponse {
        let body = fields.map { "\(BrandTemplates.escapeURL($0.0))=\(BrandTemplates.escapeURL($0.1))" }.joined(separator: "&")
        return try await client.send(.POST, base + path, headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(body.utf8))
    }

    /// Starts an email validation and returns the sid and the mailed token.
    func requestEmailToken(_ email: String, secret: String = "monkeys_are_GREAT", attempt: Int = 1, version: String = v1, token: String? = nil)
        async throws -> (sid: String, token: String)
    {
        let before = sink.messages.count
        let response = try await call(
            .POST, version + "/validate/email/requestToken",
            json: ["email": .string(email), "client_secret": .string(secret), "send_attempt": .number(Double(attempt))], token: token)
        #expect(response.status == 200, "\(response.text)")
        guard let sid = response.json?["sid"]?.stringValue else { throw HarnessError.unexpected(response.text) }
        let mail = try await waitForNewMail(to: Matrix.foldedEmail(email), after: before, containing: "the code is ")
        guard let code = Self.value(after: "the code is ", in: mail.data) else { throw HarnessError.unexpected(mail.data) }
        return (sid, code)
    }

    /// The first mail to `recipient` that arrived after the sink held `count` messages.
    func waitForNewMail(to recipient: String, after count: Int, containing text: String = "", seconds: Double = 10) async throws -> ReceivedMail {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let mail = sink.messages.dropFirst(count).first(where: { $0.recipients.contains(recipient) && (text.isEmpty || $0.data.contains(text)) }) {
                return mail
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError.unexpected("no new mail for \(recipient)")
    }

    /// A validated email session.
    func validated(_ email: String, secret: String = "monkeys_are_GREAT", version: String = v1, token: String? = nil) async throws -> String {
        let (sid, code) = try await requestEmailToken(email, secret: secret, version: version, token: token)
        let response = try await call(
            .POST, version + "/validate/email/submitToken",
            json: ["sid": .string(sid), "client_secret": .string(secret), "token": .string(code)], token: token)
        #expect(response.json?["success"] == true, "\(response.text)")
        return sid
    }

    /// Binds `email` to `mxid` through a validated session; returns the bind response.
    @discardableResult
    func bind(_ email: String, to mxid: String, secret: String = "monkeys_are_GREAT") async throws -> TestResponse {
        let sid = try await validated(email, secret: secret)
        return try await call(
            .POST, Self.v1 + "/3pid/bind", json: ["sid": .string(sid), "client_secret": .string(secret), "mxid": .string(mxid)])
    }

    /// A v2 account token for `userID`, registered through the fake homeserver.
    func register(_ userID: String) async throws -> String {
        let openID = homeserver.issue(for: userID)
        let response = try await call(
            .POST, Self.v2 + "/account/register",
            json: ["access_token": .string(openID), "token_type": "Bearer", "matrix_server_name": .string(Matrix.serverName(ofUserID: userID)!), "expires_in": 3600])
        guard response.status == 200, let token = response.json?["token"]?.stringValue else { throw HarnessError.unexpected(response.text) }
        return token
    }

    /// The text after `marker` up to the end of its line.
    static func value(after marker: String, in text: String) -> String? {
        guard let range = text.range(of: marker) else { return nil }
        return String(text[range.upperBound...].prefix { !$0.isNewline && !$0.isWhitespace && $0 != "<" })
    }
}

enum HarnessError: Error {
    case unexpected(String)
}

/// A homeserver's OpenID userinfo endpoint (tokens it issued name their user; anything
/// else is 401, as Synapse answers) and its `3pid/onbind` endpoint, which records the
/// notifications and answers 503 while `failingOnBinds` lasts.
final class FakeHomeserver: Sendable {
    let port: Int
    let tokens = Mutex<[String: String]>([:])
    let calls = Mutex(0)
    let onBinds = Mutex<[JSONValue]>([])
    let failingOnBinds = Mutex(0)
    /// Answer onbind with this status instead (a homeserver refusing it), when set.
    let onBindAnswer = Mutex<HTTPResponse.Status?>(nil)
    let onBindCalls = Mutex(0)
    /// How the published key document goes wrong, when it does.
    enum KeyDocumentFault: Sendable { case signedByAnotherKey, expired, notFound }
    let keyDocumentFault = Mutex<KeyDocumentFault?>(nil)
    /// The homeserver's name and signing key, published at `/_matrix/key/v2/server`.
    static let name = "hs.example.org"
    let key = Curve25519.Signing.PrivateKey()

    init(port: Int) {
        self.port = port
    }

    func issue(for userID: String) -> String {
        let token = SecureRandom.string(count: 24)
        tokens.withLock { $0[token] = userID }
        return token
    }

    var application: some Service {
        let router = Router()
        router.get("/") { _, _ in "homeserver" }
        // The Host a request arrived with (SRV connections keep the server's).
        router.get("/_test/host") { request, _ in request.head.authority ?? "" }
        router.get("/_matrix/federation/v1/openid/userinfo") { request, _ -> Response in
            self.calls.withLock { $0 += 1 }
            let token = request.uri.queryParameters["access_token"].map(String.init) ?? ""
            guard let user = self.tokens.withLock({ $0[token] }) else {
                return Response(
                    status: .unauthorized, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"errcode":"M_UNKNOWN_TOKEN","error":"Access Token unknown or expired"}"#)))
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"sub":"\#(user)"}"#)))
        }
        router.get("/_matrix/key/v2/server") { _, _ -> Response in
            let fault = self.keyDocumentFault.withLock { $0 }
            if fault == .notFound { return Response(status: .notFound) }
            let document: [String: JSONValue] = [
                "server_name": .string(Self.name),
                "verify_keys": ["ed25519:hs1": ["key": .string(Matrix.unpaddedBase64(self.key.publicKey.rawRepresentation))]],
                "old_verify_keys": [:], "valid_until_ts": .number(Double(Matrix.now() + (fault == .expired ? -1000 : 3_600_000))),
            ]
            let signer = fault == .signedByAnotherKey ? Curve25519.Signing.PrivateKey() : self.key
            let signed = Matrix.sign(document, server: Self.name, keyID: "ed25519:hs1", key: signer)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(.object(signed)))))
        }
        router.post("/_matrix/federation/v1/3pid/onbind") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            self.onBindCalls.withLock { $0 += 1 }
            if let status = self.onBindAnswer.withLock({ $0 }) { return Response(status: status) }
            let failing = self.failingOnBinds.withLock { failing -> Bool in
                guard failing > 0 else { return false }
                failing -= 1
                return true
            }
            if failing { return Response(status: .serviceUnavailable) }
            let value = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: body))
            self.onBinds.withLock { $0.append(value) }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
    }

    /// The `Authorization` header Synapse sends with a request it signs for `destination`.
    func xMatrix(method: String, uri: String, destination: String, content: JSONValue, key: Curve25519.Signing.PrivateKey? = nil) -> String {
        let request: [String: JSONValue] = [
            "method": .string(method), "uri": .string(uri), "origin": .string(Self.name), "destination_is": .string(destination), "content": content,
        ]
        let signed = Matrix.sign(request, server: Self.name, keyID: "ed25519:hs1", key: key ?? self.key)
        let signature = signed["signatures"]?[Self.name]?["ed25519:hs1"]?.stringValue ?? ""
        return "X-Matrix origin=\(Self.name),key=\"ed25519:hs1\",sig=\"\(signature)\""
    }

    /// The onbind notifications received, once there are at least `count`.
    func waitForOnBinds(_ count: Int, seconds: Double = 15) async throws -> [JSONValue] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let received = onBinds.withLock { $0 }
            if received.count >= count { return received }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError.unexpected("the homeserver got \(onBinds.withLock { $0.count }) onbind notifications, not \(count)")
    }
}

/// Twilio's Messages endpoint: records what was sent, checks the basic credentials.
final class FakeTwilio: Sendable {
    struct Message: Sendable {
        let account: String
        let authorization: String
        let fields: [String: String]
    }

    let port: Int
    let messages = Mutex<[Message]>([])
    /// When set, the next answers are 500s (a provider outage).
    let failing = Mutex(false)

    init(port: Int) {
        self.port = port
    }

    var application: some Service {
        let router = Router()
        router.get("/") { _, _ in "twilio" }
        router.post("/2010-04-01/Accounts/{account}/Messages.json") { request, context -> Response in
            if self.failing.withLock({ $0 }) { return Response(status: .internalServerError) }
            var request = request
            let body = try await request.collectBody(upTo: 1 << 16)
            let fields = try Request.parseForm(String(buffer: body))
            self.messages.withLock {
                $0.append(Message(
                    account: context.parameters.get("account") ?? "", authorization: request.headers[.authorization] ?? "", fields: fields))
            }
            return Response(
                status: .created, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"sid":"SM1","status":"queued"}"#)))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
    }

    func waitForMessage(count: Int, seconds: Double = 10) async throws -> Message {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let all = messages.withLock { $0 }
            if all.count >= count { return all[count - 1] }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError.unexpected("no text message number \(count)")
    }
}

