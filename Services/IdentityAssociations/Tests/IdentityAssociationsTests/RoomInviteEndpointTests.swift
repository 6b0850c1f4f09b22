import Foundation
import SuiteCore
import SuiteHTTP
import SuiteMail
import SuiteSigning
import SuiteTesting
import Testing

@testable import IdentityAssociations

/// identity-associations' `POST /internal/invites`, called as meet-rooms would.
@Suite struct RoomInviteEndpointTests {
    @Test func invitesNeedAScopedTokenAndValidFieldsAndAreIdempotent() async throws {
        let peer = Ed25519SigningKey.generate()
        let sink = try await SMTPSink.start()
        let port = try FreePort.next()
        let configuration = ServiceConfiguration.forTesting(
            service: "identity-associations", port: port, database: try await TestPostgres.shared.makeDatabase(schema: "identity_invites"),
            trust: ServiceTrust(issuers: ["meet-rooms": .keys([peer.kid: peer.publicKey])]))
        let settings = IdentitySettings(
            mail: MailSettings(from: "rooms@example.com", transport: .smtp(SMTPConfiguration(host: "127.0.0.1", port: sink.port))),
            templates: try MailTemplates(builtIn: BuiltInTemplates.all))
        let built = try await SuiteApplication.build(IdentityAssociationsService.self, configuration: configuration, settings: settings)
        let url = "http://127.0.0.1:\(port)/internal/invites"
        let signer = await ServiceTokenSigner(issuer: "meet-rooms", signingKey: peer)
        let now = Int(Date().timeIntervalSince1970)
        let token = try await signer.mint(audience: "identity-associations", scope: "invites:write", issuedAt: now, lifetime: 60)
        let wrongScope = try await signer.mint(audience: "identity-associations", scope: "users:read", issuedAt: now, lifetime: 60)
        let room = UUID().uuidString
        @Sendable func post(_ body: JSONValue, token: String?) async throws -> TestResponse {
            var headers = [("Content-Type", "application/json")]
            if let token { headers.append(("Authorization", "Bearer \(token)")) }
            return try await send(.POST, url, headers: headers, body: CanonicalJSON.bytes(body))
        }
        let body: JSONValue = [
            "room_id": .string(room), "room_name": "Retro", "room_url": "https://meet.example.com/abc-defg-hij",
            "emails": ["Zoe@Example.org", "yan@example.org"], "locale": "fr",
        ]
        try await LiveServices.run([built.application], readyURLs: ["http://127.0.0.1:\(port)/health/ready"]) {
            #expect(try await post(body, token: nil).status == 401)
            #expect(try await post(body, token: wrongScope).status == 403)
            let first = try await post(body, token: token)
            #expect(first.status == 200)
            #expect(first.json == ["invited": ["yan@example.org", "zoe@example.org"], "already_invited": []])
            let again = try await post(body, token: token)
            #expect(again.json == ["invited": [], "already_invited": ["yan@example.org", "zoe@example.org"]])
            let mail = try await sink.waitForMail(to: "zoe@example.org")
            #expect(mail.text.contains("https://meet.example.com/abc-defg-hij") && mail.text.contains("Rejoignez"))

            var bad = body
            if case .object(var members) = bad {
                members["emails"] = ["not-an-email"]
                bad = .object(members)
            }
            #expect(try await post(bad, token: token).status == 400)
            #expect(try await post(["room_id": "nope", "room_name": "x", "room_url": "https://x.test", "emails": []], token: token).status == 400)
            #expect(try await post(["room_id": .string(room), "room_name": "x", "room_url": "javascript:alert(1)", "emails": []], token: token).status == 400)
            try await Task.sleep(for: .milliseconds(700))
            #expect(sink.messages.count == 2)
        }
        await sink.stop()
    }
}
