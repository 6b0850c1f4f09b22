import Foundation
import SuiteCore
import SuiteHTTP
import SuiteSigning
import SuiteTesting
import Testing

@testable import MeetRooms

@Suite struct TokenEndpointTests {
    @Test func anApplicationGetsATokenForAUserOfItsDomain() async throws {
        try await Meet.run { meet in
            let userID = try await meet.user("ann@example.org")
            let app = try await meet.application(scopes: ["rooms:list", "rooms:create"], domains: ["example.org"])
            let response = try await meet.tokenResponse(app, for: "Ann@Example.ORG")
            #expect(response.status == 200)
            #expect(response.json?["token_type"] == "Bearer" && response.json?["expires_in"] == 3600)
            #expect(response.json?["scope"] == "rooms:list rooms:create")
            let token = try #require(response.json?["access_token"]?.stringValue)
            let payload = try JSONDecoder().decode(JSONValue.self, from: Base64URL.decode(token.split(separator: ".")[1])!)
            #expect(payload["user_id"]?.stringValue == userID.uuidString.lowercased())
            #expect(payload["client_id"]?.stringValue == app.id && payload["delegated"] == true)
            #expect(payload["iss"] == "meet-rooms" && payload["aud"] == "meet-external-api")
            let header = try JSONDecoder().decode(JSONValue.self, from: Base64URL.decode(token.split(separator: ".")[0])!)
            #expect(header["alg"] == "EdDSA")

            // The same as a form, as OAuth clients send it.
            let form = "client_id=\(app.id)&client_secret=\(app.secret)&grant_type=client_credentials&scope=ann%40example.org"
            let formed = try await meet.client.send(
                .POST, meet.base + "/application/token/", headers: [("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")],
                body: Array(form.utf8))
            #expect(formed.status == 200)
            // Without the trailing slash too.
            let bare = try await meet.call(.POST, "/application/token", json: [
                "client_id": .string(app.id), "client_secret": .string(app.secret), "grant_type": "client_credentials",
                "scope": "ann@example.org",
            ])
            #expect(bare.status == 200)
        }
    }

    @Test func theChecksComeInTheSeedsOrderWithItsBodies() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            try await meet.user("off@example.org", enabled: false)
            try await meet.user("proto@example.org", prototype: true)
            let app = try await meet.application(domains: ["example.org"])
            let inactive = try await meet.application(active: false)

            let missing = try await meet.call(.POST, "/application/token/", json: ["grant_type": "password", "scope": ""])
            #expect(missing.status == 400)
            #expect(missing.json == [
                "client_id": ["This field is required."], "client_secret": ["This field is required."],
                "grant_type": ["\"password\" is not a valid choice."], "scope": ["This field may not be blank."],
            ])
            let typed = try await meet.call(.POST, "/application/token/", json: ["client_id": 5])
            #expect(typed.status == 400 && typed.json?["client_id"] == ["Not a valid string."])

            func attempt(_ id: String, _ secret: String, _ email: String) async throws -> TestResponse {
                try await meet.tokenResponse((id, secret), for: email)
            }
            let wrongSecret = try await attempt(app.id, "nope", "ann@example.org")
            #expect(wrongSecret.status == 401 && wrongSecret.json == ["error": "Invalid credentials"])
            let unknown = try await attempt("x", app.secret, "ann@example.org")
            #expect(unknown.status == 401 && unknown.json == ["error": "Invalid credentials"])
            // A NUL in the id (schemathesis sent one) is no client, not a database error.
            let nul = try await attempt("7\u{0}B", app.secret, "ann@example.org")
            #expect(nul.status == 401 && nul.json == ["error": "Invalid credentials"], "\(nul.text)")
            // Inactive is said only to whoever knows the secret.
            let off = try await attempt(inactive.id, inactive.secret, "not-an-email")
            #expect(off.status == 401 && off.json == ["error": "Application is inactive"])
            let offWrong = try await attempt(inactive.id, "nope", "ann@example.org")
            #expect(offWrong.json == ["error": "Invalid credentials"])
            let notEmail = try await attempt(app.id, app.secret, "not-an-email")
            #expect(notEmail.status == 400 && notEmail.json == ["scope": ["Invalid email address."]])
            let domain = try await attempt(app.id, app.secret, "mallory@elsewhere.net")
            #expect(domain.status == 403 && domain.json == ["error": "This application is not authorized for this email domain."])
            for email in ["nobody@example.org", "off@example.org", "proto@example.org"] {
                let user = try await attempt(app.id, app.secret, email)
                #expect(user.status == 400 && user.json == ["error": "User not found."], "\(email)")
            }
            let xml = try await meet.client.send(.POST, meet.base + "/application/token/", headers: [("Content-Type", "text/xml")], body: Array("<a/>".utf8))
            #expect(xml.status == 415 && xml.json?["detail"] != nil)
        }
    }

    @Test func anApplicationWithoutDomainsMayActForAnyDomain() async throws {
        try await Meet.run { meet in
            try await meet.user("bob@anywhere.test")
            let app = try await meet.application(domains: [])
            #expect(try await meet.tokenResponse(app, for: "bob@anywhere.test").status == 200)
        }
    }

    @Test func userIdentityDownIsA503NotAHang() async throws {
        try await Meet.run(startUserIdentity: false) { meet in
            let app = try await meet.application()
            let start = ContinuousClock.now
            let response = try await meet.tokenResponse(app, for: "ann@example.org")
            #expect(response.status == 503)
            #expect(response.json?["error"] != nil)
            #expect(ContinuousClock.now - start < .seconds(5))
        }
    }

    @Test func tokenRequestsAreRateLimitedPerClient() async throws {
        try await Meet.run(rateLimits: try RateLimitSettings.parse("meet-token-client=2/3600")) { meet in
            try await meet.user("ann@example.org")
            let app = try await meet.application()
            #expect(try await meet.tokenResponse(app, for: "ann@example.org").status == 200)
            #expect(try await meet.tokenResponse(app, for: "ann@example.org").status == 200)
            let limited = try await meet.tokenResponse(app, for: "ann@example.org")
            #expect(limited.status == 429 && limited.header("Retry-After") != nil)
            #expect(limited.json?["detail"] != nil)
        }
    }
}
