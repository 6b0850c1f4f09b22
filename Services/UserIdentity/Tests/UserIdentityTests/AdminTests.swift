import Foundation
import NIOHTTP1
import SuiteCore
import SuiteHTTP
import SuiteSigning
import SuiteTesting
import Testing

@testable import UserIdentity

/// Every protected route, called by someone who may not.
@Suite struct AccessControlTests {
    static let routes: [(HTTPMethodName, String, [String])] = [
        (.GET, "/users", ["uai_admin"]),
        (.POST, "/users", ["uai_admin", "uai_user_manager"]),
        (.GET, "/users/{id}", ["uai_admin", "uai_employee", "uai_user_manager"]),
        (.PUT, "/users/{id}/enabling", ["uai_admin"]),
        (.DELETE, "/users/{id}/enabling", ["uai_admin"]),
        (.POST, "/users/{id}/roles", ["uai_admin"]),
        (.DELETE, "/users/{id}/roles/foo", ["uai_admin"]),
        (.POST, "/users/{id}/impersonate", ["uai_admin", "ROLE_PROPERTY_ACQUISITION_AGENT"]),
        (.PUT, "/admin/users/{id}/email", ["uai_admin"]),
        (.PUT, "/admin/users/{id}/information", ["uai_admin"]),
        (.POST, "/user-prototypes", ["uai_admin"]),
        (.POST, "/user-prototypes/{id}/invitations", ["uai_admin", "uai_user_manager", "uai_invitation_manager"]),
        (.GET, "/invitations/\(String(repeating: "a", count: 43))", ["uai_admin"]),
        (.GET, "/event-store/1/10", ["uai_admin"]),
    ]

    enum HTTPMethodName: String { case GET, POST, PUT, DELETE }

    @Test func everyProtectedRouteRefusesNoTokenExpiredTokenRefreshTokenAndTheWrongRole() async throws {
        try await UAI.run { uai in
            let target = try await uai.user("target@example.com").uuidString.lowercased()
            let plain = try await uai.user("plain@example.com", roles: ["tenant", "uai_employee_not"]).uuidString.lowercased()
            let tokens = try await uai.login("plain@example.com")
            let now = Int(Date().timeIntervalSince1970)
            let expiredAdmin = uai.forge(UserClaims(
                sub: plain, aud: .access, jti: "j", exp: now - 1, iat: now - 100, iss: "uai-test", user_id: plain, roles: ["uai_admin"]))
            let adminRefresh = uai.forge(UserClaims(
                sub: plain, aud: .refresh, jti: UUID().uuidString, exp: now + 100, iat: now, iss: "uai-test", user_id: plain,
                roles: ["uai_admin"]))
            for (method, template, _) in Self.routes {
                let path = template.replacingOccurrences(of: "{id}", with: target)
                let httpMethod = HTTPMethod(rawValue: method.rawValue)
                let body: JSONValue = ["role": "x", "email": "x@example.com", "fullname": "Some Body"]
                for (label, token) in [("none", nil), ("expired", expiredAdmin), ("refresh", adminRefresh)] as [(String, String?)] {
                    let response = try await uai.call(httpMethod, path, json: body, token: token)
                    #expect(response.status == 401, "\(method) \(path) with \(label) token")
                    #expect(response.header("Content-Type") == "application/problem+json")
                }
                let forbidden = try await uai.call(httpMethod, path, json: body, token: tokens.access)
                #expect(forbidden.status == 403, "\(method) \(path) without the role")
            }
            #expect(try await uai.count("SELECT count(*)::bigint FROM users") == 2)
        }
    }
}

@Suite struct UserAdministrationTests {
    @Test func adminsSearchUsersWithTheSeedsHALPage() async throws {
        try await UAI.run { uai in
            let admin = try await uai.admin()
            var ids: [String] = []
            for index in 0..<3 {
                ids.append(try await uai.user("u\(index)@example.com", roles: ["uai_admin", "x"]).uuidString.lowercased())
            }
            try await uai.user("other@example.com", roles: ["tenant"])
            let page = try await uai.call(.GET, "/users?role=uai_admin&itemsPerPage=1&page=1", token: admin)
            #expect(page.status == 200)
            #expect(page.json?["count"] == 1 && page.json?["total"] == 4)
            #expect(page.json?["_links"] == [
                "self": ["href": "users?role=uai_admin&itemsPerPage=1&page=1"],
                "first": ["href": "users?role=uai_admin&itemsPerPage=1&page=1"],
                "last": ["href": "users?role=uai_admin&itemsPerPage=1&page=4"],
                "next": ["href": "users?role=uai_admin&itemsPerPage=1&page=2"],
            ])
            let user = try #require(page.json?["_embedded"]?["users"]?.arrayValue?.first)
            #expect(Set(user.objectValue?.keys ?? [:].keys) == [
                "id", "email", "roles", "locale", "fullname", "createdAt", "isEnabled", "prototype", "lastAuthenticationAt",
            ])
            #expect(user["createdAt"]?.stringValue?.count == 19)

            let second = try await uai.call(.GET, "/users?role=uai_admin&itemsPerPage=1&page=2", token: admin)
            #expect(second.json?["_links"]?["prev"] == ["href": "users?role=uai_admin&itemsPerPage=1&page=1"])

            let byIDs = try await uai.call(.GET, "/users?ids=\(ids[0]),\(ids[2])", token: admin)
            #expect(byIDs.json?["total"] == 2)
            let byEmail = try await uai.call(.GET, "/users?email=OTHER@example.com", token: admin)
            #expect(byEmail.json?["_embedded"]?["users"]?.arrayValue?.first?["email"] == "other@example.com")
            let past = try await uai.call(.GET, "/users?page=9", token: admin)
            #expect(past.json?["count"] == 0 && past.json?["total"] == 5)

            for bad in ["page=0", "itemsPerPage=101", "ids=nope", "page=x"] {
                let response = try await uai.call(.GET, "/users?\(bad)", token: admin)
                #expect(response.status == 400, "\(bad)")
            }
        }
    }

    @Test func readingAUserNeedsARoleAndAnExistingId() async throws {
        try await UAI.run { uai in
            let id = try await uai.user("ann@example.com", fullname: "Ann Example").uuidString.lowercased()
            try await uai.user("emp@example.com", roles: ["uai_employee"])
            let employee = try await uai.login("emp@example.com").access
            let found = try await uai.call(.GET, "/users/\(id)", token: employee)
            #expect(found.status == 200)
            #expect(found.json?["fullname"] == "Ann Example" && found.json?["lastAuthenticationAt"] == .null)
            #expect(Set(found.json?.objectValue?.keys ?? [:].keys) == [
                "id", "fullname", "locale", "roles", "email", "createdAt", "lastAuthenticationAt", "isEnabled",
            ])
            #expect(try await uai.call(.GET, "/users/\(UUID())", token: employee).status == 404)
            #expect(try await uai.call(.GET, "/users/not-a-uuid", token: employee).status == 404)
        }
    }

    @Test func adminsAndUserManagersCreateSocialUsers() async throws {
        try await UAI.run { uai in
            let admin = try await uai.admin()
            let created = try await uai.call(
                .POST, "/users", json: ["fullname": "John Smith", "email": "john@example.com", "locale": "en", "roles": ["uai_employee"]],
                token: admin)
            #expect(created.status == 201)
            #expect(created.header("Location")?.contains("/users/") == true)
            // No password: the seed's authenticationMethodNotSupported.
            let login = try await uai.call(.POST, "/authentications", json: ["email": "john@example.com", "password": "whatever1"])
            #expect(login.json?["validationMessages"]?["email"]?["authenticationMethodNotSupported"] != nil)
            let again = try await uai.call(.POST, "/users", json: ["fullname": "John Smith", "email": "JOHN@example.com"], token: admin)
            #expect(again.status == 409)
            let invalid = try await uai.call(.POST, "/users", json: ["fullname": "Jo", "roles": ["bad role!"]], token: admin)
            #expect(invalid.status == 422)
            #expect(invalid.json?["validationMessages"]?["email"]?["isEmpty"] != nil)
            #expect(invalid.json?["validationMessages"]?["roles"]?["roleInvalid"] != nil)

            try await uai.user("manager@example.com", roles: ["uai_user_manager"])
            let manager = try await uai.login("manager@example.com").access
            let staff = try await uai.call(.POST, "/users", json: ["fullname": "Staff Member", "email": "staff@example.com"], token: manager)
            #expect(staff.status == 201)
            let escalation = try await uai.call(
                .POST, "/users", json: ["fullname": "Evil Twin", "email": "evil@example.com", "roles": ["uai_admin"]], token: manager)
            #expect(escalation.status == 403)
        }
    }

    @Test func disablingAUserEndsTheirSessionsAndVerifyReadsTheDatabase() async throws {
        try await UAI.run { uai in
            let admin = try await uai.admin()
            let id = try await uai.user("ann@example.com").uuidString.lowercased()
            let session = try await uai.login("ann@example.com")
            #expect(try await uai.call(.GET, "/users/me/verify", token: session.access).status == 204)

            #expect(try await uai.call(.DELETE, "/users/\(id)/enabling", token: admin).status == 204)
            // The access token is still valid for minutes; verify does not trust it.
            let verify = try await uai.call(.GET, "/users/me/verify", token: session.access)
            #expect(verify.status == 403)
            let refresh = try await uai.call(.POST, "/authentications/me/refresh", token: session.refresh)
            #expect(refresh.status == 401)
            let login = try await uai.call(.POST, "/authentications", json: ["email": "ann@example.com", "password": "secret123"])
            #expect(login.json?["validationMessages"]?["email"]?["userIsDisabled"] != nil)

            #expect(try await uai.call(.PUT, "/users/\(id)/enabling", token: admin).status == 204)
            _ = try await uai.login("ann@example.com")
            #expect(try await uai.call(.PUT, "/users/\(UUID())/enabling", token: admin).status == 404)
            #expect(try await uai.call(.DELETE, "/users/\(UUID())/enabling", token: admin).status == 404)
            let events = try await uai.count(
                "SELECT count(*)::bigint FROM domain_events WHERE type_name IN ('UserWasDisabled','UserWasEnabled')")
            #expect(events == 2)
        }
    }

    @Test func rolesAreAddedOnceAndRemoved() async throws {
        try await UAI.run { uai in
            let admin = try await uai.admin()
            let id = try await uai.user("ann@example.com").uuidString.lowercased()
            #expect(try await uai.call(.POST, "/users/\(id)/roles", json: ["role": "bookings_bonsai_edit"], token: admin).status == 204)
            let twice = try await uai.call(.POST, "/users/\(id)/roles", json: ["role": "bookings_bonsai_edit"], token: admin)
            #expect(twice.status == 409)
            #expect(try await uai.call(.POST, "/users/\(id)/roles", json: [:], token: admin).status == 422)
            #expect(try await uai.call(.POST, "/users/\(UUID())/roles", json: ["role": "x"], token: admin).status == 404)
            // A new login carries the role.
            let token = try await uai.login("ann@example.com").access
            #expect(try await uai.call(.GET, "/users/me", token: token).json?["roles"] == ["bookings_bonsai_edit"])
            #expect(try await uai.call(.DELETE, "/users/\(id)/roles/bookings_bonsai_edit", token: admin).status == 204)
            #expect(try await uai.call(.DELETE, "/users/\(id)/roles/bookings_bonsai_edit", token: admin).status == 404)
            let events = try await uai.count(
                "SELECT count(*)::bigint FROM domain_events WHERE type_name IN ('UserRoleWasAdded','UserRoleWasRemoved')")
            #expect(events == 2)
        }
    }

    @Test func impersonationFollowsTheSeedsTwoRules() async throws {
        try await UAI.run { uai in
            let admin = try await uai.admin()
            let adminID = try #require(try await uai.call(.GET, "/users/me", token: admin).json?["id"]?.stringValue)
            let tenant = try await uai.user("tenant@example.com", roles: ["tenant"]).uuidString.lowercased()
            let otherAdmin = try await uai.user("admin2@example.com", roles: ["uai_admin"]).uuidString.lowercased()
            let landlord = try await uai.user("landlord@example.com", roles: ["ROLE_ACCOMMODATION_PROVIDER"]).uuidString.lowercased()
            try await uai.user("agent@example.com", roles: ["ROLE_PROPERTY_ACQUISITION_AGENT"])
            let agent = try await uai.login("agent@example.com").access

            let asTenant = try await uai.call(.POST, "/users/\(tenant)/impersonate", token: admin)
            #expect(asTenant.status == 201)
            let token = try #require(asTenant.json?["accessToken"]?.stringValue)
            let payload = try await uai.call(.GET, "/me", token: token).json?["jwt"]?["payload"]
            #expect(payload?["user_id"]?.stringValue == tenant && payload?["impersonated_user_id"]?.stringValue == tenant)
            #expect(payload?["impersonator_id"]?.stringValue == adminID)
            // The impersonation's refresh keeps it an impersonation.
            let refreshed = try await uai.call(
                .POST, "/authentications/me/refresh", token: try #require(asTenant.json?["refreshToken"]?.stringValue))
            let refreshedPayload = try await uai.call(
                .GET, "/me", token: try #require(refreshed.json?["accessToken"]?.stringValue)).json?["jwt"]?["payload"]
            #expect(refreshedPayload?["impersonated_user_id"]?.stringValue == tenant)

            #expect(try await uai.call(.POST, "/users/\(otherAdmin)/impersonate", token: admin).status == 403)
            #expect(try await uai.call(.POST, "/users/\(landlord)/impersonate", token: agent).status == 201)
            #expect(try await uai.call(.POST, "/users/\(tenant)/impersonate", token: agent).status == 403)
            #expect(try await uai.call(.POST, "/users/\(UUID())/impersonate", token: admin).status == 404)
            // No chains: an impersonation token cannot impersonate.
            try await uai.call(.POST, "/users/\(tenant)/roles", json: ["role": "uai_admin_not"], token: admin)
            #expect(try await uai.call(.POST, "/users/\(landlord)/impersonate", token: token).status == 403)
        }
    }

    @Test func anAdminChangesEmailAndInformation() async throws {
        try await UAI.run { uai in
            let admin = try await uai.admin()
            let id = try await uai.user("ann@example.com").uuidString.lowercased()
            try await uai.user("taken@example.com")
            let changed = try await uai.call(.PUT, "/admin/users/\(id)/email", json: ["email": "Ann.New@example.com"], token: admin)
            #expect(changed.status == 204)
            let mail = try await uai.sink.waitForMail(to: "ann.new@example.com")
            #expect(mail.text.contains("ann.new@example.com"))
            _ = try await uai.login("ann.new@example.com")
            let quiet = try await uai.call(
                .PUT, "/admin/users/\(id)/email", json: ["email": "ann.quiet@example.com", "notify": false], token: admin)
            #expect(quiet.status == 204)
            #expect(try await uai.call(.PUT, "/admin/users/\(id)/email", json: ["email": "taken@example.com"], token: admin).status == 409)
            #expect(try await uai.call(.PUT, "/admin/users/\(id)/email", json: ["email": "nope"], token: admin).status == 422)
            #expect(try await uai.call(.PUT, "/admin/users/\(UUID())/email", json: ["email": "x@example.com"], token: admin).status == 404)
            try await Task.sleep(for: .milliseconds(700))
            #expect(!uai.sink.messages.contains { $0.recipients.contains("ann.quiet@example.com") })

            let info = try await uai.call(.PUT, "/admin/users/\(id)/information", json: ["fullname": "Ann Snow", "locale": "es"], token: admin)
            #expect(info.status == 204)
            let read = try await uai.call(.GET, "/users/\(id)", token: admin)
            #expect(read.json?["fullname"] == "Ann Snow" && read.json?["locale"] == "es")
            #expect(try await uai.call(.PUT, "/admin/users/\(id)/information", json: ["fullname": "A"], token: admin).status == 422)
            #expect(try await uai.call(.PUT, "/admin/users/\(id)/information", json: ["fullname": "Ann Snow", "locale": "e"], token: admin).status == 422)
            #expect(try await uai.call(.PUT, "/admin/users/\(UUID())/information", json: ["fullname": "Ann Snow"], token: admin).status == 404)
        }
    }

    @Test func aUserChangesTheirOwnEmailThroughTheNewAddress() async throws {
        try await UAI.run { uai in
            try await uai.user("ann@example.com")
            try await uai.user("taken@example.com")
            let token = try await uai.login("ann@example.com").access
            let asked = try await uai.call(
                .POST, "/me/email-change", json: ["email": "ann@new.example.com", "callback_url": "https://app.example.com/email/:id"],
                token: token)
            #expect(asked.status == 204)
            let link = try await uai.link(to: "ann@new.example.com", prefix: "https://app.example.com/email/")
            let checksum = String(link.split(separator: "/").last!)
            // Until verified, nothing changed.
            _ = try await uai.login("ann@example.com")
            #expect(try await uai.call(.PUT, "/email/verification/\(checksum)").status == 204)
            #expect(try await uai.call(.PUT, "/email/verification/\(checksum)").status == 409)
            #expect(try await uai.call(.PUT, "/email/verification/\(String(repeating: "b", count: 43))").status == 404)
            _ = try await uai.login("ann@new.example.com")

            let taken = try await uai.call(
                .POST, "/me/email-change", json: ["email": "taken@example.com", "callback_url": "https://app.example.com/:id"], token: token)
            #expect(taken.status == 409)
            let bad = try await uai.call(.POST, "/me/email-change", json: ["email": "nope"], token: token)
            #expect(bad.status == 422)
            #expect(try await uai.call(.POST, "/me/email-change", json: ["email": "a@example.com"]).status == 401)

            let info = try await uai.call(.PUT, "/me/information", json: ["fullname": "Ann Snow", "locale": "en"], token: token)
            #expect(info.status == 204)
            #expect(try await uai.call(.GET, "/users/me", token: token).json?["fullname"] == "Ann Snow")
            #expect(try await uai.call(.PUT, "/me/information", json: ["fullname": "Ann"], token: token).status == 422)
            #expect(try await uai.call(.PUT, "/me/information", json: ["fullname": "Ann Snow"]).status == 401)
        }
    }
}

@Suite struct InvitationTests {
    @Test func anAdminInvitesAPrototypeWhoSetsAPassword() async throws {
        try await UAI.run { uai in
            let admin = try await uai.admin()
            let created = try await uai.call(
                .POST, "/user-prototypes", json: ["fullname": "John Smith", "email": "john@example.com", "locale": "es_ES", "roles": ["foo", "bar"]],
                token: admin)
            #expect(created.status == 201)
            let id = String(try #require(created.header("Location")).split(separator: "/").last!)
            let early = try await uai.call(.POST, "/authentications", json: ["email": "john@example.com", "password": "whatever1"])
            #expect(early.json?["validationMessages"]?["email"]?["userIsPrototype"] != nil)

            let invited = try await uai.call(
                .POST, "/user-prototypes/\(id)/invitations",
                json: ["notify": true, "callback_url": "http://spotahome.com/bff/landlord/invitation/:id"], token: admin)
            #expect(invited.status == 201)
            let invitation = String(try #require(invited.header("Location")).split(separator: "/").last!)
            let link = try await uai.link(to: "john@example.com", prefix: "http://spotahome.com/bff/landlord/invitation/")
            #expect(link.hasSuffix(invitation))

            // The outbox says when the mail went out.
            var shown = try await uai.call(.GET, "/invitations/\(invitation)", token: admin)
            for _ in 0..<50 where shown.json?["isEmailSent"] != true {
                try await Task.sleep(for: .milliseconds(100))
                shown = try await uai.call(.GET, "/invitations/\(invitation)", token: admin)
            }
            #expect(shown.status == 200)
            #expect(shown.json?["id"]?.stringValue == invitation && shown.json?["userId"]?.stringValue == id)
            #expect(shown.json?["isEmailSent"] == true && shown.json?["isRedeemed"] == false && shown.json?["redeemedAt"] == .null)

            #expect(try await uai.call(.PUT, "/invitations/\(invitation)/redemption", json: ["password": "123"]).status == 422)
            let redeemed = try await uai.call(.PUT, "/invitations/\(invitation)/redemption", json: ["password": "123456"])
            #expect(redeemed.status == 204)
            #expect(redeemed.header("Location")?.hasSuffix("/users/\(id)") == true)
            #expect(try await uai.call(.PUT, "/invitations/\(invitation)/redemption", json: ["password": "654321"]).status == 409)
            let tokens = try await uai.login("john@example.com", "123456")
            #expect(try await uai.call(.GET, "/users/me", token: tokens.access).json?["roles"] == ["foo", "bar"])
            let after = try await uai.call(.GET, "/invitations/\(invitation)", token: admin)
            #expect(after.json?["isRedeemed"] == true)

            // A full user is no prototype to invite.
            let noMore = try await uai.call(.POST, "/user-prototypes/\(id)/invitations", json: ["notify": false], token: admin)
            #expect(noMore.status == 409)
            let events = try await uai.count(
                "SELECT count(*)::bigint FROM domain_events WHERE type_name IN ('InvitationWasCreated','InvitationWasRedeemed')")
            #expect(events == 2)
        }
    }

    @Test func invitationFailuresAreClear() async throws {
        try await UAI.run { uai in
            let admin = try await uai.admin()
            try await uai.user("inviter@example.com", roles: ["uai_invitation_manager"])
            let inviter = try await uai.login("inviter@example.com").access
            let proto = try await uai.user("p@example.com", password: nil, enabled: false, prototype: true).uuidString.lowercased()
            #expect(try await uai.call(.POST, "/user-prototypes/\(UUID())/invitations", json: ["notify": false], token: admin).status == 404)
            let noCallback = try await uai.call(.POST, "/user-prototypes/\(proto)/invitations", json: ["notify": true], token: inviter)
            #expect(noCallback.status == 422)
            // Without a mail the admin hands the link over; the body may be empty.
            let quiet = try await uai.call(.POST, "/user-prototypes/\(proto)/invitations", token: inviter, headers: [])
            #expect(quiet.status == 422)
            let silent = try await uai.call(.POST, "/user-prototypes/\(proto)/invitations", json: ["notify": false], token: inviter)
            #expect(silent.status == 201)
            let invitation = String(try #require(silent.header("Location")).split(separator: "/").last!)
            let shown = try await uai.call(.GET, "/invitations/\(invitation)", token: admin)
            #expect(shown.json?["isEmailSent"] == false && shown.json?["emailSentAt"] == .null)
            #expect(try await uai.call(.GET, "/invitations/\(String(repeating: "z", count: 43))", token: admin).status == 404)
            #expect(try await uai.call(.PUT, "/invitations/nope/redemption", json: ["password": "123456"]).status == 404)
            let prototype = try await uai.call(.POST, "/user-prototypes", json: ["fullname": "Some One", "email": "p@example.com"], token: admin)
            #expect(prototype.status == 409)
            #expect(try await uai.call(.POST, "/user-prototypes", json: ["fullname": "X"], token: admin).status == 422)

            // An expired invitation is like an unknown one.
            try await uai.count("UPDATE invitations SET expires_at = now() - interval '1 second' RETURNING 0")
            #expect(try await uai.call(.PUT, "/invitations/\(invitation)/redemption", json: ["password": "123456"]).status == 404)
        }
    }
}

@Suite struct EventStoreTests {
    @Test func everyChangeIsAnEventWithAGapFreeId() async throws {
        let peer = Ed25519SigningKey.generate()
        try await UAI.run(trust: ServiceTrust(issuers: ["meet-rooms": .keys([peer.kid: peer.publicKey])])) { uai in
            let admin = try await uai.admin()
            let id = try await uai.user("ann@example.com").uuidString.lowercased()
            // A change that fails (role already there) leaves no hole in the numbering.
            try await uai.call(.POST, "/users/\(id)/roles", json: ["role": "a"], token: admin)
            #expect(try await uai.call(.POST, "/users/\(id)/roles", json: ["role": "a"], token: admin).status == 409)
            try await uai.call(.POST, "/users/\(id)/roles", json: ["role": "b"], token: admin)

            let all = try await uai.call(.GET, "/event-store/1/100", token: admin)
            #expect(all.status == 200)
            let events = try #require(all.json?["events"]?.arrayValue)
            #expect(events.map { $0["id"]?.stringValue } == ["1", "2", "3", "4", "5"])
            #expect(events.map { $0["type_name"]?.stringValue } == [
                "UserWasCreated", "UserWasAuthenticated", "UserWasCreated", "UserRoleWasAdded", "UserRoleWasAdded",
            ])
            let body = try #require(events[3]["event_body"]?.stringValue)
            #expect(body.contains(#""role":"a""#) && body.contains(#""userId":"\#(id)""#) && body.contains("occurredOn"))
            #expect(events[0]["occurred_on"]?.stringValue?.hasSuffix("Z") == true)

            let filtered = try await uai.call(.GET, "/event-store/1/100?typeName=Sah%5CDomain%5CUser%5CUserRoleWasAdded", token: admin)
            #expect(filtered.json?["events"]?.arrayValue?.count == 2)
            // A name no event can have (a NUL byte, control characters) matches nothing; beside a real one, it is ignored.
            let impossible = try await uai.call(.GET, "/event-store/1/100?typeName=%00%1Fb%C2%92", token: admin)
            #expect(impossible.status == 200 && impossible.json?["events"] == [], "\(impossible.text)")
            let mixed = try await uai.call(.GET, "/event-store/1/100?typeName=UserWasCreated,x%00y", token: admin)
            #expect(mixed.json?["events"]?.arrayValue?.count == 2, "\(mixed.text)")
            let window = try await uai.call(.GET, "/event-store/2/3", token: admin)
            #expect(window.json?["events"]?.arrayValue?.map { $0["id"]?.stringValue } == ["2", "3"])
            let empty = try await uai.call(.GET, "/event-store/5/1", token: admin)
            #expect(empty.status == 200 && empty.json?["events"] == [])
            #expect(try await uai.call(.GET, "/event-store/a/b", token: admin).status == 400)

            // A peer projecting the events reads them with a service token.
            let signer = await ServiceTokenSigner(issuer: "meet-rooms", signingKey: peer)
            let now = Int(Date().timeIntervalSince1970)
            let reader = try await signer.mint(audience: "user-identity", scope: "events:read", issuedAt: now, lifetime: 60)
            #expect(try await uai.call(.GET, "/event-store/1/2", token: reader).status == 200)
            let wrongScope = try await signer.mint(audience: "user-identity", scope: "users:read", issuedAt: now, lifetime: 60)
            #expect(try await uai.call(.GET, "/event-store/1/2", token: wrongScope).status == 403)
        }
    }

    @Test func atMost500EventsAreReturned() async throws {
        try await UAI.run { uai in
            let admin = try await uai.admin()
            try await uai.count("""
                WITH bump AS (UPDATE event_counter SET last_id = last_id + 600 RETURNING last_id)
                INSERT INTO domain_events (id, type_name, occurred_on, event_body)
                SELECT bump.last_id - 600 + g, 'Filler', now(), '{}' FROM bump, generate_series(1, 600) g RETURNING 0
                """)
            let response = try await uai.call(.GET, "/event-store/1/10000", token: admin)
            #expect(response.json?["events"]?.arrayValue?.count == 500)
        }
    }
}

@Suite struct InternalTests {
    @Test func peersFindAUserByEmailWithAScopedServiceToken() async throws {
        let peer = Ed25519SigningKey.generate()
        try await UAI.run(trust: ServiceTrust(issuers: ["meet-rooms": .keys([peer.kid: peer.publicKey])])) { uai in
            let id = try await uai.user("ann@example.com", roles: ["tenant"], fullname: "Ann Example").uuidString.lowercased()
            let signer = await ServiceTokenSigner(issuer: "meet-rooms", signingKey: peer)
            let now = Int(Date().timeIntervalSince1970)
            let token = try await signer.mint(audience: "user-identity", scope: "users:read", issuedAt: now, lifetime: 60)
            let found = try await uai.call(.GET, "/internal/users/by-email?email=ANN%40Example.com", token: token)
            #expect(found.status == 200)
            #expect(found.json == [
                "id": .string(id), "email": "ann@example.com", "fullname": "Ann Example", "roles": ["tenant"], "isEnabled": true,
                "prototype": false,
            ])
            #expect(try await uai.call(.GET, "/internal/users/by-email?email=nobody%40example.com", token: token).status == 404)
            #expect(try await uai.call(.GET, "/internal/users/by-email?email=nope", token: token).status == 400)
            #expect(try await uai.call(.GET, "/internal/users/by-email?email=ann%40example.com").status == 401)
            let wrong = try await signer.mint(audience: "user-identity", scope: "events:read", issuedAt: now, lifetime: 60)
            #expect(try await uai.call(.GET, "/internal/users/by-email?email=ann%40example.com", token: wrong).status == 403)
            // A user's token is no service token.
            try await uai.user("admin@example.com", roles: ["uai_admin"])
            let admin = try await uai.login("admin@example.com").access
            #expect(try await uai.call(.GET, "/internal/users/by-email?email=ann%40example.com", token: admin).status == 401)
        }
    }

    @Test func aPeerWithTheProvisionScopeGetsOneAccountPerEmail() async throws {
        let peer = Ed25519SigningKey.generate()
        try await UAI.run(trust: ServiceTrust(issuers: ["meet-rooms": .keys([peer.kid: peer.publicKey])])) { uai in
            let signer = await ServiceTokenSigner(issuer: "meet-rooms", signingKey: peer)
            let now = Int(Date().timeIntervalSince1970)
            let token = try await signer.mint(audience: "user-identity", scope: "users:provision", issuedAt: now, lifetime: 60)
            let reader = try await signer.mint(audience: "user-identity", scope: "users:read", issuedAt: now, lifetime: 60)
            #expect(try await uai.call(.POST, "/internal/users/provision", json: ["email": "new@example.com"], token: reader).status == 403)
            #expect(try await uai.call(.POST, "/internal/users/provision", json: ["email": "new@example.com"]).status == 401)
            #expect(try await uai.call(.POST, "/internal/users/provision", json: ["email": "nope"], token: token).status == 400)

            let made = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<8 { group.addTask { try await uai.call(.POST, "/internal/users/provision", json: ["email": "New@Example.com"], token: token) } }
                var all: [TestResponse] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            #expect(made.filter { $0.status == 201 }.count == 1)
            #expect(made.filter { $0.status == 200 }.count == 7)
            #expect(Set(made.compactMap { $0.json?["id"]?.stringValue }).count == 1)
            #expect(made.first?.json?["email"] == "new@example.com" && made.first?.json?["prototype"] == true && made.first?.json?["isEnabled"] == true)
            // An existing account is answered as it is.
            try await uai.user("ann@example.com", roles: ["tenant"])
            let ann = try await uai.call(.POST, "/internal/users/provision", json: ["email": "ann@example.com"], token: token)
            #expect(ann.status == 200 && ann.json?["prototype"] == false && ann.json?["roles"] == ["tenant"])
        }
    }
}
