import Foundation
import SuiteCore
import SuiteSigning
import SuiteTesting
import Testing

@testable import MeetRooms

/// What a client written against La Suite Meet's External API expects.
@Suite struct DropInTests {
    @Test func configurationIsLaSuiteMeetsSchema() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let token = try await meet.token(try await meet.application(), for: "ann@example.org")
            let valid: JSONValue = ["can_publish_sources": ["camera", "microphone", "screen_share", "screen_share_audio"], "everyone_can_mute": true]
            let created = try await meet.call(.POST, "/rooms/", json: ["configuration": valid], token: token)
            #expect(created.status == 201, "\(created.text)")
            #expect(created.json?["configuration"] == valid)
            #expect(try await meet.call(.POST, "/rooms/", json: ["configuration": ["everyone_can_mute": false]], token: token).status == 201)

            for (bad, message) in [
                (["can_publish_sources": ["camera", "hologram"]] as JSONValue, "can_publish_sources"),
                (["can_publish_sources": "camera"], "can_publish_sources"),
                (["everyone_can_mute": "yes"], "everyone_can_mute"),
                (["lobby_enabled": true], "Extra inputs are not permitted"),
            ] {
                let refused = try await meet.call(.POST, "/rooms/", json: ["configuration": bad], token: token)
                #expect(refused.status == 400, "\(bad)")
                let problems = refused.json?["configuration"]?.arrayValue?.compactMap(\.stringValue) ?? []
                #expect(problems.contains { $0.contains(message) }, "\(bad): \(refused.text)")
            }
        }
    }

    @Test func aRoomCarriesLaSuiteMeetsFieldsAndNoAttendeesAndCreateIgnoresReadOnlyFields() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let token = try await meet.token(try await meet.application(), for: "ann@example.org")
            let created = try await meet.call(
                .POST, "/rooms/", json: ["name": "Mine", "access_level": "restricted", "slug": "my-own-slug", "id": "00000000-0000-0000-0000-000000000001"],
                token: token)
            #expect(created.status == 201, "\(created.text)")
            let room = try #require(created.json?.objectValue)
            #expect(Set(room.keys) == ["id", "name", "slug", "configuration", "access_level", "url", "created_at"])
            #expect(room["access_level"] == "trusted")
            #expect(room["slug"] != "my-own-slug" && room["id"] != "00000000-0000-0000-0000-000000000001")
            #expect(room["name"] == room["slug"], "the name is generated, as La Suite Meet does")
            let id = try #require(room["id"]?.stringValue)

            // Attendees stay on their own route and in the PATCH answer, not in lists.
            let patched = try await meet.call(.PATCH, "/rooms/\(id)/", json: ["attendees": ["bob@example.org"]], token: token)
            #expect(patched.json?["attendees"] == ["bob@example.org"])
            let listed = try #require(try await meet.call(.GET, "/rooms/", token: token).json?["results"]?.arrayValue?.first?.objectValue)
            #expect(Set(listed.keys) == ["id", "name", "slug", "configuration", "access_level", "url", "created_at"])
            let read = try #require(try await meet.call(.GET, "/rooms/\(id)/", token: token).json?.objectValue)
            #expect(read["attendees"] == nil)
        }
    }

    @Test func scopesAreComparedWithoutCase() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let app = try await meet.application(scopes: ["ROOMS:LIST", "rooms:list", "Rooms:Create"])
            let answer = try await meet.tokenResponse(app, for: "ann@example.org")
            #expect(answer.json?["scope"] == "rooms:list rooms:create", "\(answer.text)")
            let token = try #require(answer.json?["access_token"]?.stringValue)
            #expect(try await meet.call(.POST, "/rooms/", token: token).status == 201)
            #expect(try await meet.call(.GET, "/rooms/", token: token).status == 200)
        }
    }

    @Test func roomsAreListedByNameAndAPagePastTheLastIsInvalid() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let token = try await meet.token(try await meet.application(), for: "ann@example.org")
            let empty = try await meet.call(.GET, "/rooms/", token: token)
            #expect(empty.status == 200 && empty.json?["count"] == 0)
            for name in ["Charlie", "alpha", "Bravo"] {
                let id = try #require(try await meet.call(.POST, "/rooms/", token: token).json?["id"]?.stringValue)
                #expect(try await meet.call(.PATCH, "/rooms/\(id)/", json: ["name": .string(name)], token: token).status == 200)
            }
            let names = try await meet.call(.GET, "/rooms/", token: token).json?["results"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            #expect(names == ["alpha", "Bravo", "Charlie"].sorted { $0.lowercased() < $1.lowercased() } || names == ["Bravo", "Charlie", "alpha"],
                    "\(names ?? [])")
            let second = try await meet.call(.GET, "/rooms/?page=2&page_size=2", token: token)
            #expect(second.status == 200 && second.json?["results"]?.arrayValue?.count == 1)
            let past = try await meet.call(.GET, "/rooms/?page=3&page_size=2", token: token)
            #expect(past.status == 404)
            #expect(past.json == ["detail": "Invalid page."])
        }
    }

    @Test func theTokenEndpointSpeaksOneShapeEvenWhenUserIdentityIsDown() async throws {
        try await Meet.run(startUserIdentity: false) { meet in
            let response = try await meet.tokenResponse(try await meet.application(), for: "ann@example.org")
            #expect(response.status == 503)
            #expect(response.json?["error"]?.stringValue != nil, "\(response.text)")
            #expect(response.json?["detail"] == nil)
        }
    }

    /// The `user_id` a delegation token carries.
    static func userID(_ token: String?) -> String? {
        guard let token, let payload = token.split(separator: ".").dropFirst().first, let bytes = Base64URL.decode(String(payload)) else { return nil }
        return (try? JSONParser.parse(bytes))?["user_id"]?.stringValue
    }

    @Test func withUserCreationOnAnUnknownEmailGetsOneProvisionalUser() async throws {
        try await Meet.run(configure: { $0.allowUserCreation = true }) { meet in
            let app = try await meet.application()
            // Ten first requests at once for one new address make one user.
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<10 { group.addTask { try await meet.tokenResponse(app, for: "Newcomer@example.org") } }
                var all: [TestResponse] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            #expect(answers.allSatisfy { $0.status == 200 }, "\(answers.map(\.text))")
            let users = Set(answers.compactMap { Self.userID($0.json?["access_token"]?.stringValue) })
            #expect(users.count == 1)
            let token = try #require(answers.first?.json?["access_token"]?.stringValue)
            #expect(try await meet.call(.POST, "/rooms/", token: token).status == 201)
            #expect(try await meet.call(.GET, "/rooms/", token: token).json?["count"] == 1)

            // user-identity has it, enabled (its prototype flag is checked in user-identity's tests).
            let id = try #require(users.first)
            let account = try await send(.GET, meet.uaiBase + "/users/\(id)", json: nil, token: meet.uaiAdmin)
            #expect(account.json?["email"] == "newcomer@example.org" && account.json?["isEnabled"] == true, "\(account.text)")

            // An admin's prototype (an invitation not yet redeemed, disabled) is still not acted for.
            try await meet.user("invited@example.org", prototype: true)
            #expect(try await meet.tokenResponse(app, for: "invited@example.org").json == ["error": "User not found."])
        }
        // Off (the default), an unknown address is not found, as the seed says.
        try await Meet.run { meet in
            let app = try await meet.application()
            let refused = try await meet.tokenResponse(app, for: "newcomer@example.org")
            #expect(refused.json == ["error": "User not found."])
        }
    }

    @Test func providerTokensKeepTheirRoomScopesWithOrWithoutThePrefix() {
        #expect(ResourceServer.roomScopes("openid email rooms:list ROOMS:CREATE", prefix: "") == ["rooms:list", "rooms:create"])
        #expect(ResourceServer.roomScopes("lasuite_meet:rooms:list rooms:retrieve lasuite_meet:rooms:list other:x", prefix: "lasuite_meet:")
            == ["rooms:list", "rooms:retrieve"])
        #expect(ResourceServer.roomScopes("openid profile", prefix: "").isEmpty)
    }

    @Test func introspectionIsConfiguredAsAWholeOrNotAtAll() throws {
        let key = Ed25519SigningKey.generate().seedBase64
        #expect(try MeetSettings.load(ConfigReader(["SERVICE_SIGNING_KEY": key])).resourceServer == nil)
        #expect(throws: ConfigurationError.self) { try MeetSettings.load(ConfigReader(["SERVICE_SIGNING_KEY": key, "MEET_OIDC_CLIENT_ID": "meet"])) }
        let on = try #require(try MeetSettings.load(ConfigReader([
            "SERVICE_SIGNING_KEY": key, "MEET_OIDC_CLIENT_ID": "meet", "MEET_OIDC_CLIENT_SECRET": "s", "OIDC_VAULT_URL": "http://vault:8084",
        ])).resourceServer)
        #expect(on.introspectionURL == "http://vault:8084/introspect" && on.cacheSeconds == 30 && on.scopePrefix == "")
    }

    /// A provider that cannot be reached is a 503 within the deadline, not a 401 or a hang.
    @Test func anUnreachableIntrospectionEndpointIsA503() async throws {
        let closed = try FreePort.next()
        try await Meet.run(startUserIdentity: false, configure: {
            $0.resourceServer = .init(introspectionURL: "http://127.0.0.1:\(closed)/introspect", clientID: "meet", clientSecret: "s")
        }) { meet in
            let start = ContinuousClock.now
            let answer = try await meet.call(.GET, "/rooms/", token: "a.provider.token")
            #expect(answer.status == 503, "\(answer.text)")
            #expect(answer.header("Retry-After") == "1")
            #expect(ContinuousClock.now - start < .seconds(5))
            // An expired token of ours is refused as before: it is never sent to the provider.
            let expired = Delegation.issue(
                clientID: "app", userID: UUID().uuidString, scopes: ["rooms:list"], settings: meet.settings,
                now: Int(Date().timeIntervalSince1970) - 7200)
            let refused = try await meet.call(.GET, "/rooms/", token: expired)
            #expect(refused.status == 401 && refused.json == ["detail": "Token expired."], "\(refused.text)")
        }
    }
}
