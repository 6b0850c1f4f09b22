import Foundation
import SuiteCore
import SuiteHTTP
import SuiteTesting
import Testing

@testable import UserIdentity

@Suite struct SignupTests {
    static let signup: JSONValue = [
        "fullname": "John Smith", "email": "John@Example.com", "password": "12345678",
        "activation_callback_url": "https://app.example.com/users/activation/:id", "locale": "es_ES", "role": "tenant",
    ]

    @Test func aVisitorSignsUpActivatesByMailAndLogsIn() async throws {
        try await UAI.run { uai in
            let created = try await uai.call(.POST, "/signup", json: Self.signup)
            #expect(created.status == 201)
            let location = try #require(created.header("Location"))
            #expect(location.hasPrefix(uai.base + "/users/"))

            // Not active yet.
            let early = try await uai.call(.POST, "/authentications", json: ["email": "john@example.com", "password": "12345678"])
            #expect(early.json?["validationMessages"]?["email"]?["userIsDisabled"] != nil)

            // The mail is in Spanish (es_ES falls back to es) and carries the link.
            let mail = try await uai.sink.waitForMail(to: "john@example.com")
            #expect(mail.header("Subject") == "=?UTF-8?B?\(Data("Activa tu cuenta".utf8).base64EncodedString())?=" || mail.header("Subject") == "Activa tu cuenta")
            let link = try await uai.link(to: "john@example.com", prefix: "https://app.example.com/users/activation/")
            let code = String(link.split(separator: "/").last!)
            #expect(code.count == 43)

            let activated = try await uai.call(.PUT, "/users/activation/\(code)")
            #expect(activated.status == 204)
            #expect(activated.header("Location") == location)
            let again = try await uai.call(.PUT, "/users/activation/\(code)")
            #expect(again.status == 404)

            let tokens = try await uai.login("john@example.com", "12345678")
            let me = try await uai.call(.GET, "/users/me", token: tokens.access)
            #expect(me.json?["roles"] == ["tenant"] && me.json?["locale"] == "es_ES" && me.json?["isEnabled"] == true)
            let events = try await uai.count("SELECT count(*)::bigint FROM domain_events WHERE type_name IN ('UserWasCreated','UserWasActivated')")
            #expect(events == 2)
        }
    }

    @Test func aTakenEmailIsTheSeedsConflictAndNothingIsWritten() async throws {
        try await UAI.run { uai in
            try await uai.user("john@example.com")
            let before = try await uai.count("SELECT count(*)::bigint FROM mail_outbox")
            let response = try await uai.call(.POST, "/signup", json: Self.signup)
            #expect(response.status == 409)
            #expect(response.json == [
                "detail": "The request could not be completed due to a conflict with the current state of the resource",
                "status": 409, "title": "Conflict", "type": "http://www.w3.org/Protocols/rfc2616/rfc2616",
                "validationMessages": ["email": ["emailAlreadyInUse": "Email already in use"]],
            ])
            #expect(try await uai.count("SELECT count(*)::bigint FROM mail_outbox") == before)
            #expect(try await uai.count("SELECT count(*)::bigint FROM users") == 1)
        }
    }

    @Test func theSeedsRulesAreCheckedTogether() async throws {
        try await UAI.run { uai in
            let response = try await uai.call(.POST, "/signup", json: [
                "fullname": "Jo", "email": "hola@", "password": "123", "activation_callback_url": "javascript:alert(1)",
            ])
            #expect(response.status == 422)
            let messages = response.json?["validationMessages"]
            #expect(messages?["fullname"] == ["stringLengthTooShort": "The input is less than 4 characters long"])
            #expect(messages?["email"]?["emailAddressInvalidFormat"] != nil)
            #expect(messages?["password"] == ["stringLengthTooShort": "The input is less than 6 characters long"])
            #expect(messages?["activation_callback_url"]?["callbackUrlInvalid"] != nil)

            var domain = Self.signup
            if case .object(var members) = domain {
                members["email"] = "hola@spotahome.com"
                domain = .object(members)
            }
            let refused = try await uai.call(.POST, "/signup", json: domain)
            #expect(refused.json?["validationMessages"]?["email"]?["emailDomainNotAllowed"] == "The email hola@spotahome.com cannot be a tenant!")

            // Nobody signs up as an admin.
            let admin = try await uai.call(.POST, "/signup", json: [
                "fullname": "Mallory", "email": "m@example.com", "password": "12345678",
                "activation_callback_url": "https://app.example.com/:id", "role": "uai_admin",
            ])
            #expect(admin.status == 422)
            #expect(admin.json?["validationMessages"]?["role"]?["roleNotAllowed"] != nil)
            #expect(try await uai.count("SELECT count(*)::bigint FROM users") == 0)
        }
    }

    @Test func callbackHostsCanBeRestricted() async throws {
        try await UAI.run(configure: { $0.callbackHosts = ["app.example.com"] }) { uai in
            var body = Self.signup
            if case .object(var members) = body {
                members["activation_callback_url"] = "https://evil.example.net/:id"
                body = .object(members)
            }
            let response = try await uai.call(.POST, "/signup", json: body)
            #expect(response.status == 422)
            #expect(response.json?["validationMessages"]?["activation_callback_url"]?["callbackUrlNotAllowed"] != nil)
            let fine = try await uai.call(.POST, "/signup", json: Self.signup)
            #expect(fine.status == 201)
        }
    }

    @Test func activationCanBeResentOnlyWhileItIsPending() async throws {
        try await UAI.run { uai in
            let created = try await uai.call(.POST, "/signup", json: Self.signup)
            let id = String(try #require(created.header("Location")).split(separator: "/").last!)
            let first = try await uai.link(to: "john@example.com", prefix: "https://app.example.com/")
            let resent = try await uai.call(
                .POST, "/users/activation/\(id)", json: ["activation_callback_url": "https://app.example.com/activate/:id"])
            #expect(resent.status == 204)
            let second = try await uai.link(to: "john@example.com", prefix: "https://app.example.com/activate/")
            #expect(second != first)
            // The first code was replaced.
            let old = try await uai.call(.PUT, "/users/activation/\(first.split(separator: "/").last!)")
            #expect(old.status == 404)
            let activated = try await uai.call(.PUT, "/users/activation/\(second.split(separator: "/").last!)")
            #expect(activated.status == 204)
            let after = try await uai.call(
                .POST, "/users/activation/\(id)", json: ["activation_callback_url": "https://app.example.com/activate/:id"])
            #expect(after.status == 404)
            let unknown = try await uai.call(
                .POST, "/users/activation/\(UUID())", json: ["activation_callback_url": "https://app.example.com/:id"])
            #expect(unknown.status == 404)
            let garbage = try await uai.call(.PUT, "/users/activation/not-a-code")
            #expect(garbage.status == 404)
        }
    }

    @Test func signupsAreRateLimitedPerAddress() async throws {
        try await UAI.run(rateLimits: try RateLimitSettings.parse("signup-ip=2/3600")) { uai in
            for index in 0..<2 {
                var body = Self.signup
                if case .object(var members) = body {
                    members["email"] = .string("user\(index)@example.com")
                    body = .object(members)
                }
                #expect(try await uai.call(.POST, "/signup", json: body).status == 201)
            }
            let limited = try await uai.call(.POST, "/signup", json: Self.signup)
            #expect(limited.status == 429)
            #expect(limited.header("Retry-After") != nil)
        }
    }
}

@Suite struct ForgottenPasswordTests {
    @Test func aUserResetsTheirPasswordOnceThroughTheMailedLink() async throws {
        try await UAI.run { uai in
            try await uai.user("ann@example.com", password: "old-password")
            let session = try await uai.login("ann@example.com", "old-password")
            let created = try await uai.call(
                .POST, "/forgotten-passwords", json: ["email": "ANN@example.com", "callback_url": "https://app.example.com/password/:id"])
            #expect(created.status == 201)
            let location = try #require(created.header("Location"))
            let link = try await uai.link(to: "ann@example.com", prefix: "https://app.example.com/password/")
            let secret = String(link.split(separator: "/").last!)
            // The Location names the request; it is not the secret and opens nothing.
            #expect(!location.contains(secret))
            let byLocation = try await uai.call(.GET, "/forgotten-passwords/\(location.split(separator: "/").last!)")
            #expect(byLocation.status == 404)

            let shown = try await uai.call(.GET, "/forgotten-passwords/\(secret)")
            #expect(shown.status == 200)
            #expect(shown.json?["expiration_date"]?.stringValue?.hasSuffix("+00:00") == true)

            let short = try await uai.call(.PUT, "/forgotten-passwords/\(secret)/password", json: ["password": "123"])
            #expect(short.status == 422)
            let set = try await uai.call(.PUT, "/forgotten-passwords/\(secret)/password", json: ["password": "new-password"])
            #expect(set.status == 204)
            let again = try await uai.call(.PUT, "/forgotten-passwords/\(secret)/password", json: ["password": "other-password"])
            #expect(again.status == 409)

            _ = try await uai.login("ann@example.com", "new-password")
            // Sessions from before the reset end.
            let old = try await uai.call(.POST, "/authentications/me/refresh", token: session.refresh)
            #expect(old.status == 401)
            #expect(try await uai.count("SELECT count(*)::bigint FROM domain_events WHERE type_name = 'PasswordWasReset'") == 1)
        }
    }

    @Test func anUnknownEmailLooksTheSameAndGetsNoMail() async throws {
        try await UAI.run { uai in
            let response = try await uai.call(
                .POST, "/forgotten-passwords", json: ["email": "nobody@example.com", "callback_url": "https://app.example.com/:id"])
            #expect(response.status == 201)
            #expect(response.header("Location")?.contains("/forgotten-passwords/") == true)
            try await Task.sleep(for: .milliseconds(700))
            #expect(uai.sink.messages.isEmpty)
            #expect(try await uai.count("SELECT count(*)::bigint FROM mail_outbox") == 0)
            let invalid = try await uai.call(.POST, "/forgotten-passwords", json: ["email": "nope"])
            #expect(invalid.status == 422)
            #expect(invalid.json?["validationMessages"]?["callback_url"]?["isEmpty"] != nil)
            let unknown = try await uai.call(.GET, "/forgotten-passwords/\(String(repeating: "a", count: 43))")
            #expect(unknown.status == 404)
            let put = try await uai.call(.PUT, "/forgotten-passwords/whatever/password", json: ["password": "123456"])
            #expect(put.status == 404)
        }
    }

    @Test func resetRequestsAreRateLimitedPerEmail() async throws {
        try await UAI.run(rateLimits: try RateLimitSettings.parse("forgotten-passwords-email=2/3600")) { uai in
            let body: JSONValue = ["email": "ann@example.com", "callback_url": "https://app.example.com/:id"]
            #expect(try await uai.call(.POST, "/forgotten-passwords", json: body).status == 201)
            #expect(try await uai.call(.POST, "/forgotten-passwords", json: body).status == 201)
            let limited = try await uai.call(.POST, "/forgotten-passwords", json: body)
            #expect(limited.status == 429)
        }
    }
}
