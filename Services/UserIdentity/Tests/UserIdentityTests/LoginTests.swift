import Foundation
import SuiteCore
import SuiteHTTP
import SuiteSigning
import SuiteTesting
import Testing

@testable import UserIdentity

@Suite struct LoginTests {
    @Test func aUserLogsInReadsTheTokenAndRefreshesIt() async throws {
        try await UAI.run { uai in
            let id = try await uai.user("ann@example.com", roles: ["foo", "bar"])
            let login = try await uai.call(
                .POST, "/authentications",
                json: ["email": " Ann@Example.com ", "password": "secret123", "login_context": "landlord"])
            #expect(login.status == 201)
            #expect(login.json?["jwt"] == login.json?["accessToken"])
            let access = try #require(login.json?["accessToken"]?.stringValue)
            let refresh = try #require(login.json?["refreshToken"]?.stringValue)

            let info = try await uai.call(.GET, "/me", token: access)
            #expect(info.status == 200)
            #expect(info.json?["jwt"]?["header"]?["alg"] == "EdDSA")
            let payload = try #require(info.json?["jwt"]?["payload"])
            #expect(payload["sub"]?.stringValue == id.uuidString.lowercased())
            #expect(payload["user_id"] == payload["sub"])
            #expect(payload["aud"] == "access_token" && payload["iss"] == "uai-test")
            #expect(payload["roles"] == ["foo", "bar"])
            #expect(payload["jti"]?.stringValue?.isEmpty == false)
            // The seed's `GET /me` also reads refresh tokens.
            let refreshInfo = try await uai.call(.GET, "/me", token: refresh)
            #expect(refreshInfo.json?["jwt"]?["payload"]?["aud"] == "refresh_token")

            // The seed's bare `Authorization: <jwt>` works too.
            let bare = try await uai.call(.GET, "/users/me", headers: [("Authorization", access)])
            #expect(bare.status == 200)
            #expect(bare.json?["email"] == "ann@example.com")
            #expect(bare.json?["lastAuthenticationAt"]?.stringValue?.hasSuffix("+00:00") == true)

            let renewed = try await uai.call(.POST, "/authentications/me/refresh", token: refresh)
            #expect(renewed.status == 201)
            #expect(renewed.json?["refreshToken"]?.stringValue != refresh)
            let access2 = try #require(renewed.json?["accessToken"]?.stringValue)
            let me = try await uai.call(.GET, "/users/me", token: access2)
            #expect(me.status == 200)
        }
    }

    @Test func aReusedRefreshTokenRevokesItsWholeFamily() async throws {
        try await UAI.run { uai in
            try await uai.user("bob@example.com")
            let first = try await uai.login("bob@example.com")
            let other = try await uai.login("bob@example.com")
            let second = try await uai.call(.POST, "/authentications/me/refresh", token: first.refresh)
            let rotated = try #require(second.json?["refreshToken"]?.stringValue)
            // Someone replays the first token: both it and its successor stop working.
            let replay = try await uai.call(.POST, "/authentications/me/refresh", token: first.refresh)
            #expect(replay.status == 401)
            #expect(replay.header("Content-Type") == "application/problem+json")
            let successor = try await uai.call(.POST, "/authentications/me/refresh", token: rotated)
            #expect(successor.status == 401)
            // Another login's family is untouched.
            let unrelated = try await uai.call(.POST, "/authentications/me/refresh", token: other.refresh)
            #expect(unrelated.status == 201)
        }
    }

    @Test func onlyARefreshTokenRefreshes() async throws {
        try await UAI.run { uai in
            try await uai.user("cy@example.com")
            let tokens = try await uai.login("cy@example.com")
            let withAccess = try await uai.call(.POST, "/authentications/me/refresh", token: tokens.access)
            #expect(withAccess.status == 401)
            #expect(withAccess.header("WWW-Authenticate")?.contains("not a refresh token") == true)
            let none = try await uai.call(.POST, "/authentications/me/refresh")
            #expect(none.status == 401)
            // A refresh token is no access token either.
            let asAccess = try await uai.call(.GET, "/users/me", token: tokens.refresh)
            #expect(asAccess.status == 401)
        }
    }

    @Test func theSeedsLoginErrorsEachHaveTheirMessage() async throws {
        try await UAI.run { uai in
            try await uai.user("proto@example.com", password: nil, enabled: false, prototype: true)
            try await uai.user("social@example.com", password: nil)
            try await uai.user("off@example.com", enabled: false)
            try await uai.user("on@example.com")

            func messages(_ email: String, _ password: String) async throws -> JSONValue? {
                let response = try await uai.call(.POST, "/authentications", json: ["email": .string(email), "password": .string(password)])
                #expect(response.status == 422, "\(email)")
                #expect(response.json?["type"] == "http://www.w3.org/Protocols/rfc2616/rfc2616")
                #expect(response.json?["title"] == "Unprocessable Entity")
                return response.json?["validationMessages"]
            }
            let form = try await messages("not-an-email", "123")
            #expect(form?["email"]?["emailAddressInvalidFormat"] != nil)
            #expect(form?["password"]?["stringLengthTooShort"] == "The input is less than 6 characters long")
            #expect(try await messages("nobody@example.com", "secret123") == ["email": ["userNotExists": "This user does not exist"]])
            #expect(try await messages("proto@example.com", "secret123") == ["email": ["userIsPrototype": "User is a prototype"]])
            #expect(
                try await messages("social@example.com", "secret123")
                    == ["email": ["authenticationMethodNotSupported": "The authentication method provided cannot be used by this user"]])
            #expect(try await messages("off@example.com", "secret123") == ["email": ["userIsDisabled": "User is Disabled"]])
            #expect(try await messages("on@example.com", "wrong-password") == ["password": ["invalidPassword": "The password is invalid"]])
            #expect(try await uai.call(.POST, "/authentications", json: ["email": "on@example.com", "password": "secret123"]).status == 201)
            // Each refusal is counted by its reason, and the success too.
            let metrics = try await uai.client.send(.GET, uai.base + "/metrics").text
            for outcome in ["userNotExists", "userIsPrototype", "authenticationMethodNotSupported", "userIsDisabled", "invalidPassword", "success"] {
                #expect(metrics.contains("uai_logins_total{outcome=\"\(outcome)\"} 1\n"), "\(outcome)")
            }
            // The outbox listener's held connection, as PostgreSQL sees it (it may still be connecting).
            var listening = metrics
            for _ in 0..<30 where !listening.contains("suite_db_pool_connections{state=\"listening\"} 1.0\n") {
                try await Task.sleep(for: .milliseconds(100))
                listening = try await uai.client.send(.GET, uai.base + "/metrics").text
            }
            #expect(listening.contains("suite_db_pool_connections{state=\"listening\"} 1.0\n"), "\(listening)")

            let xml = try await uai.client.send(.POST, uai.base + "/authentications", headers: [("Content-Type", "text/xml")], body: Array("<a/>".utf8))
            #expect(xml.status == 415)
            let broken = try await uai.client.send(
                .POST, uai.base + "/authentications", headers: [("Content-Type", "application/json")], body: Array("{".utf8))
            #expect(broken.status == 400)
        }
    }

    @Test func loginsAreRateLimitedPerEmail() async throws {
        let limits = try RateLimitSettings.parse("authentications-email=3/3600")
        try await UAI.run(rateLimits: limits) { uai in
            try await uai.user("dee@example.com")
            for _ in 0..<3 {
                let wrong = try await uai.call(.POST, "/authentications", json: ["email": "dee@example.com", "password": "nope-nope"])
                #expect(wrong.status == 422)
            }
            let limited = try await uai.call(.POST, "/authentications", json: ["email": "dee@example.com", "password": "secret123"])
            #expect(limited.status == 429)
            #expect(Int(limited.header("Retry-After") ?? "") ?? 0 > 0)
            // Another account is not affected.
            try await uai.user("eve@example.com")
            _ = try await uai.login("eve@example.com")
        }
    }

    @Test func jwksServesTheKeyThatSignsTokens() async throws {
        try await UAI.run { uai in
            let jwks = try await uai.call(.GET, "/.well-known/jwks.json")
            #expect(jwks.status == 200)
            let key = try #require(jwks.json?["keys"]?.arrayValue?.first)
            #expect(key["kty"] == "OKP" && key["alg"] == "EdDSA")
            try await uai.user("fay@example.com")
            let token = try await uai.login("fay@example.com").access
            let info = try await uai.call(.GET, "/me", token: token)
            #expect(info.json?["jwt"]?["header"]?["kid"] == key["kid"])
        }
    }

    @Test func hs512IsTheSeedsAlgorithmBySetting() async throws {
        let secret = String(repeating: "s", count: 64)
        try await UAI.run(key: .hs512(.init(data: Array(secret.utf8)))) { uai in
            try await uai.user("gus@example.com")
            let token = try await uai.login("gus@example.com").access
            let info = try await uai.call(.GET, "/me", token: token)
            #expect(info.json?["jwt"]?["header"] == ["alg": "HS512", "typ": "JWT"])
            let jwks = try await uai.call(.GET, "/.well-known/jwks.json")
            #expect(jwks.json?["keys"] == [])
        }
    }

    @Test func anExpiredTokenIsRefusedWithAReason() async throws {
        try await UAI.run { uai in
            let id = try await uai.user("hal@example.com").uuidString.lowercased()
            let now = Int(Date().timeIntervalSince1970)
            let expired = uai.forge(UserClaims(
                sub: id, aud: .access, jti: "x", exp: now - 10, iat: now - 910, iss: "uai-test", user_id: id, roles: []))
            let response = try await uai.call(.GET, "/users/me", token: expired)
            #expect(response.status == 401)
            #expect(response.json?["detail"] == "The request requires user authentication")
            #expect(response.header("WWW-Authenticate")?.contains("token expired") == true)
        }
    }
}
