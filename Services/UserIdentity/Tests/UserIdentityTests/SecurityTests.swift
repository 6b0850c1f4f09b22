import Foundation
import PostgresNIO
import SuiteCore
import SuiteSigning
import SuiteTesting
import Testing

@testable import UserIdentity

/// Found by trying the service as an attacker would: each test fails on the code before
/// its fix.
@Suite struct UserIdentitySecurityTests {
    @Test func aDisabledAdminLosesAdminRightsAtOnce() async throws {
        try await UAI.run { uai in
            let boss = try await uai.admin("boss@example.com")
            let rogueID = try await uai.user("rogue@example.com", roles: ["uai_admin"]).uuidString.lowercased()
            let rogue = try await uai.login("rogue@example.com").access
            #expect(try await uai.call(.GET, "/users", token: rogue).status == 200)
            #expect(try await uai.call(.DELETE, "/users/\(rogueID)/enabling", token: boss).status == 204)
            // Its token has minutes left, but it is no admin any more, and cannot undo it.
            #expect(try await uai.call(.GET, "/users", token: rogue).status == 401)
            #expect(try await uai.call(.PUT, "/users/\(rogueID)/enabling", token: rogue).status == 401)

            // A removed role is gone at once too.
            #expect(try await uai.call(.PUT, "/users/\(rogueID)/enabling", token: boss).status == 204)
            let again = try await uai.login("rogue@example.com").access
            #expect(try await uai.call(.DELETE, "/users/\(rogueID)/roles/uai_admin", token: boss).status == 204)
            #expect(try await uai.call(.GET, "/users", token: again).status == 403)
        }
    }

    @Test func noAdminDisablesItselfOrRemovesTheLastAdmin() async throws {
        try await UAI.run { uai in
            let token = try await uai.admin("boss@example.com")
            let me = try #require(try await uai.call(.GET, "/users/me", token: token).json?["id"]?.stringValue)
            let own = try await uai.call(.DELETE, "/users/\(me)/enabling", token: token)
            #expect(own.status == 403, "\(own.text)")
            let last = try await uai.call(.DELETE, "/users/\(me)/roles/uai_admin", token: token)
            #expect(last.status == 409, "\(last.text)")
            #expect(try await uai.call(.GET, "/users", token: token).status == 200)
            // With a second admin, one of them may step down.
            let other = try await uai.user("second@example.com", roles: ["uai_admin"]).uuidString.lowercased()
            #expect(try await uai.call(.DELETE, "/users/\(me)/roles/uai_admin", token: token).status == 204)
            let second = try await uai.login("second@example.com").access
            #expect(try await uai.call(.DELETE, "/users/\(other)/roles/uai_admin", token: second).status == 409)
        }
    }

    @Test func loginsResendsImpersonationsAndRequestsAreAudited() async throws {
        try await UAI.run { uai in
            func events(_ type: String) async throws -> Int {
                try await uai.count("SELECT count(*)::int FROM domain_events WHERE type_name = '\(type)'")
            }
            let admin = try await uai.admin()
            #expect(try await events("UserWasAuthenticated") == 1)
            let annID = try await uai.user("ann@example.com").uuidString.lowercased()
            _ = try await uai.login("ann@example.com")
            #expect(try await events("UserWasAuthenticated") == 2)
            let body = try await uai.count(
                "SELECT count(*)::int FROM domain_events WHERE type_name = 'UserWasAuthenticated' AND event_body::jsonb->>'userId' = '\(annID)'")
            #expect(body == 1)

            #expect(try await uai.call(.POST, "/users/\(annID)/impersonate", token: admin).status == 201)
            #expect(try await events("UserWasImpersonated") == 1)

            let token = try await uai.login("ann@example.com").access
            #expect(try await uai.call(
                .POST, "/me/email-change", json: ["email": "ann@new.example.com", "callback_url": "https://app.example.com/:id"], token: token).status == 204)
            #expect(try await events("UserEmailChangeWasRequested") == 1)

            #expect(try await uai.call(
                .POST, "/forgotten-passwords", json: ["email": "ann@example.com", "callback_url": "https://app.example.com/:id"]).status == 201)
            #expect(try await events("UserPasswordResetWasRequested") == 1)
            // An address without an account writes nothing (and answers the same).
            #expect(try await uai.call(
                .POST, "/forgotten-passwords", json: ["email": "ghost@example.com", "callback_url": "https://app.example.com/:id"]).status == 201)
            #expect(try await events("UserPasswordResetWasRequested") == 1)

            let signup = try await uai.call(.POST, "/signup", json: [
                "fullname": "Eve Example", "email": "eve@example.com", "password": "correct-horse",
                "activation_callback_url": "https://app.example.com/activate/:id",
            ])
            let eveID = try #require(signup.header("Location")?.split(separator: "/").last.map(String.init), "\(signup.status) \(signup.text)")
            let resent = try await uai.call(
                .POST, "/users/activation/\(eveID)", json: ["activation_callback_url": "https://app.example.com/activate/:id"])
            #expect(resent.status == 204, "\(resent.text)")
            #expect(try await events("UserActivationWasResent") == 1)
        }
    }

    @Test func theOldAddressIsToldOfAnEmailChange() async throws {
        try await UAI.run { uai in
            let admin = try await uai.admin()
            let id = try await uai.user("ann@example.com", locale: "es").uuidString.lowercased()
            #expect(try await uai.call(.PUT, "/admin/users/\(id)/email", json: ["email": "ann.new@example.com"], token: admin).status == 204)
            let notice = try await uai.sink.waitForMail(to: "ann@example.com")
            #expect(notice.text.contains("ann.new@example.com"))
            #expect(notice.text.contains("Si no pediste este cambio"))

            try await uai.user("bob@example.com")
            let token = try await uai.login("bob@example.com").access
            #expect(try await uai.call(
                .POST, "/me/email-change", json: ["email": "bob@new.example.com", "callback_url": "https://app.example.com/email/:id"],
                token: token).status == 204)
            let link = try await uai.link(to: "bob@new.example.com", prefix: "https://app.example.com/email/")
            #expect(!uai.sink.messages.contains { $0.recipients.contains("bob@example.com") })
            #expect(try await uai.call(.PUT, "/email/verification/\(link.split(separator: "/").last!)").status == 204)
            let told = try await uai.sink.waitForMail(to: "bob@example.com")
            #expect(told.text.contains("bob@new.example.com"))
            #expect(told.text.contains("If you did not ask for this change"))
        }
    }

    @Test func withoutConfiguredCallbackHostsLinksStayOnTheSuitesHost() async throws {
        #expect(CallbackURL.defaultHosts(publicURL: "https://suite.example.org/uai") == ["suite.example.org"])
        #expect(CallbackURL.defaultHosts(publicURL: "http://localhost:8080/uai").contains("127.0.0.1"))
        try await UAI.run(configure: { $0.callbackHosts = [] }) { uai in
            // The harness's PUBLIC_URL is on 127.0.0.1: only loopback callbacks pass.
            let evil = try await uai.call(
                .POST, "/forgotten-passwords", json: ["email": "ann@example.com", "callback_url": "https://evil.example.net/:id"])
            #expect(evil.status == 422, "\(evil.text)")
            let local = try await uai.call(
                .POST, "/forgotten-passwords", json: ["email": "ann@example.com", "callback_url": "http://127.0.0.1:3000/reset/:id"])
            #expect(local.status == 201, "\(local.text)")
        }
    }
}
