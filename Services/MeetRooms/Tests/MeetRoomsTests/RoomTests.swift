import Foundation
import SuiteCore
import SuiteHTTP
import SuiteSigning
import SuiteTesting
import Testing

@testable import MeetRooms

@Suite struct RoomTests {
    @Test func aUserCreatesListsAndReadsRooms() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let app = try await meet.application()
            let token = try await meet.token(app, for: "ann@example.org")
            let created = try await meet.call(.POST, "/rooms/", token: token)
            #expect(created.status == 201)
            let room = try #require(created.json)
            let slug = try #require(room["slug"]?.stringValue)
            #expect(slug.range(of: "^[a-z]{3}-[a-z]{4}-[a-z]{3}$", options: .regularExpression) != nil)
            #expect(room["access_level"] == "trusted")
            #expect(room["url"]?.stringValue == "https://meet.example.com/\(slug)")
            #expect(room["telephony"] == nil)
            let id = try #require(room["id"]?.stringValue)

            let read = try await meet.call(.GET, "/rooms/\(id)", token: token)
            #expect(read.status == 200 && read.json?["slug"]?.stringValue == slug)
            let list = try await meet.call(.GET, "/rooms", token: token)
            #expect(list.json?["count"] == 1 && list.json?["next"] == .null && list.json?["previous"] == .null)
            #expect(list.json?["results"]?.arrayValue?.first?["id"]?.stringValue == id)

            let configured = try await meet.call(
                .POST, "/rooms", json: ["name": "Standup", "configuration": ["everyone_can_mute": false]], token: token)
            #expect(configured.status == 201 && configured.json?["name"] == configured.json?["slug"])
            #expect(configured.json?["configuration"] == ["everyone_can_mute": false])
        }
    }

    @Test func pagesHaveAbsoluteLinksAndBounds() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let app = try await meet.application()
            let token = try await meet.token(app, for: "ann@example.org")
            for _ in 0..<5 { try await meet.call(.POST, "/rooms/", token: token) }
            let first = try await meet.call(.GET, "/rooms/?page_size=2", token: token)
            #expect(first.json?["count"] == 5)
            #expect(first.json?["results"]?.arrayValue?.count == 2)
            #expect(first.json?["next"]?.stringValue?.hasSuffix("/external-api/v1.0/rooms?page=2&page_size=2") == true)
            #expect(first.json?["next"]?.stringValue?.hasPrefix("http://") == true)
            // A page far beyond the end (offset past 2^31) is DRF's invalid page, not an error.
            let far = try await meet.call(.GET, "/rooms/?page=92233720368547757&page_size=20", token: token)
            #expect(far.status == 404 && far.json == ["detail": "Invalid page."], "\(far.text)")
            let last = try await meet.call(.GET, "/rooms/?page=3&page_size=2", token: token)
            #expect(last.json?["results"]?.arrayValue?.count == 1 && last.json?["next"] == .null)
            #expect(last.json?["previous"]?.stringValue?.hasSuffix("rooms?page=2&page_size=2") == true)
            var seen = Set<String>()
            for page in 1...3 {
                let response = try await meet.call(.GET, "/rooms/?page=\(page)&page_size=2", token: token)
                for room in response.json?["results"]?.arrayValue ?? [] { seen.insert(room["id"]?.stringValue ?? "") }
            }
            #expect(seen.count == 5)
            for bad in ["page=0", "page_size=101", "page_size=0", "page=x"] {
                let response = try await meet.call(.GET, "/rooms/?\(bad)", token: token)
                #expect(response.status == 400, "\(bad)")
            }
        }
    }

    @Test func concurrentListsOfDifferentUsersAndPagesEachGetTheirOwn() async throws {
        try await Meet.run { meet in
            let app = try await meet.application()
            var tokens: [String: String] = [:]
            var names: [String: Set<String>] = [:]
            for (user, rooms) in [("ann", 3), ("bob", 2), ("cy", 0)] {
                try await meet.user("\(user)@example.org")
                let token = try await meet.token(app, for: "\(user)@example.org")
                tokens[user] = token
                for _ in 0..<rooms {
                    let created = try await meet.call(.POST, "/rooms/", token: token)
                    names[user, default: []].insert(created.json?["name"]?.stringValue ?? "")
                }
            }
            let answers = try await withThrowingTaskGroup(of: (String, Int, JSONValue?).self) { group in
                for round in 0..<30 {
                    let user = ["ann", "bob", "cy"][round % 3]
                    let page = round % 2 + 1
                    let token = tokens[user]!
                    group.addTask { (user, page, try await meet.call(.GET, "/rooms/?page=\(page)&page_size=2", token: token).json) }
                }
                var all: [(String, Int, JSONValue?)] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            for (user, page, json) in answers {
                let results = json?["results"]?.arrayValue ?? []
                let expected = max(0, min(2, (names[user]?.count ?? 0) - (page - 1) * 2))
                if page > 1, expected == 0 {
                    #expect(json == ["detail": "Invalid page."], "\(user) page \(page)")
                    continue
                }
                #expect(json?["count"]?.intValue == names[user]?.count ?? 0, "\(user) page \(page)")
                #expect(results.count == expected, "\(user) page \(page)")
                for room in results { #expect(names[user]?.contains(room["name"]?.stringValue ?? "") == true) }
            }
        }
    }

    @Test func bearerFailuresHaveTheSeedsBodies() async throws {
        try await Meet.run { meet in
            let userID = try await meet.user("ann@example.org")
            let app = try await meet.application(scopes: ["rooms:list"])
            let token = try await meet.token(app, for: "ann@example.org")
            let none = try await meet.call(.GET, "/rooms/")
            #expect(none.status == 401 && none.json == ["detail": "Invalid token."])
            let garbled = try await meet.call(.GET, "/rooms/", token: "abc.def.ghi")
            #expect(garbled.status == 401 && garbled.json == ["detail": "Invalid token."])
            var parts = token.split(separator: ".").map(String.init)
            parts[1] = Base64URL.encode(Array(#"{"iss":"meet-rooms","aud":"meet-external-api","iat":0,"exp":9999999999,"jti":"x","client_id":"\#(app.id)","user_id":"\#(userID)","scope":"rooms:list rooms:delete","delegated":true}"#.utf8))
            let tampered = try await meet.call(.GET, "/rooms/", token: parts.joined(separator: "."))
            #expect(tampered.status == 401)
            let noScopeBadPage = try await meet.call(.GET, "/rooms/?page=0", token: try await meet.token(
                try await meet.application(scopes: ["rooms:create"]), for: "ann@example.org"))
            #expect(noScopeBadPage.status == 403, "permission is checked before the parameters")
            let missing = try await meet.call(.POST, "/rooms/", token: token)
            #expect(missing.status == 403 && missing.json == ["detail": "Insufficient permissions. Required scope: 'rooms:create'"])

            // Signed by us, but expired; or for another audience.
            let old = Delegation.issue(
                clientID: app.id, userID: userID.uuidString, scopes: ["rooms:list"], settings: meet.settings, now: Int(Date().timeIntervalSince1970) - 7200)
            let expired = try await meet.call(.GET, "/rooms/", token: old)
            #expect(expired.status == 401 && expired.json == ["detail": "Token expired."])
            var other = meet.settings
            other.audience = "someone-else"
            let foreign = Delegation.issue(clientID: app.id, userID: userID.uuidString, scopes: ["rooms:list"], settings: other)
            #expect(try await meet.call(.GET, "/rooms/", token: foreign).status == 401)
            // A user token of user-identity is not a delegation token.
            #expect(try await meet.call(.GET, "/rooms/", token: "Bearer x").status == 401)

            // Disabling the application ends its tokens at once, in La Suite Meet's words.
            try await ApplicationStore(database: meet.database, logger: .init(label: "t")).update(app.id, .active(false))
            let disabled = try await meet.call(.GET, "/rooms/", token: token)
            #expect(disabled.status == 401 && disabled.json == ["detail": "Application is disabled."])
        }
    }

    @Test func aDisabledOrUnknownUserOrAGoneApplicationLosesAccessWithinSeconds() async throws {
        try await Meet.run { meet in
            let userID = try await meet.user("ann@example.org")
            let app = try await meet.application(scopes: ["rooms:list", "rooms:create", "rooms:retrieve"])
            let token = try await meet.token(app, for: "ann@example.org")
            #expect(try await meet.call(.GET, "/rooms/", token: token).status == 200)
            let created = try await meet.call(.POST, "/rooms/", json: [:], token: token)
            #expect(created.status == 201, "\(created.text)")
            let roomID = try #require(created.json?["id"]?.stringValue)

            // A validly signed token for a user user-identity does not know.
            let ghost = Delegation.issue(clientID: app.id, userID: UUID().uuidString, scopes: ["rooms:list"], settings: meet.settings)
            let unknown = try await meet.call(.GET, "/rooms/", token: ghost)
            #expect(unknown.status == 401 && unknown.json == ["detail": "User not found."], "\(unknown.text)")

            // Disabled at user-identity: refused within the two seconds answers are kept,
            // on the list and on every other rooms route.
            try await meet.disable(userID)
            var listed = 0
            for _ in 0..<40 {
                listed = try await meet.call(.GET, "/rooms/", token: token).status
                if listed == 401 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(listed == 401)
            let list = try await meet.call(.GET, "/rooms/", token: token)
            #expect(list.json == ["detail": "User account is disabled."])
            let retrieve = try await meet.call(.GET, "/rooms/\(roomID)/", token: token)
            #expect(retrieve.status == 401 && retrieve.json == ["detail": "User account is disabled."])

            // An application that no longer exists.
            try await meet.database.query("DELETE FROM applications WHERE client_id = \(app.id)", logger: .init(label: "t"))
            let gone = try await meet.call(.GET, "/rooms/", token: token)
            #expect(gone.status == 401 && gone.json == ["detail": "Application not found."])
        }
    }

    @Test func roomsOfOthersAreNotFoundOrForbidden() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            try await meet.user("bob@example.org")
            let app = try await meet.application()
            let ann = try await meet.token(app, for: "ann@example.org")
            let bob = try await meet.token(app, for: "bob@example.org")
            let id = try #require(try await meet.call(.POST, "/rooms/", token: ann).json?["id"]?.stringValue)
            let other = try await meet.call(.GET, "/rooms/\(id)/", token: bob)
            #expect(other.status == 403)
            #expect(try await meet.call(.GET, "/rooms/\(UUID())/", token: bob).json == ["detail": "Not found."])
            #expect(try await meet.call(.GET, "/rooms/not-a-uuid/", token: bob).status == 404)
            #expect(try await meet.call(.GET, "/rooms/", token: bob).json?["count"] == 0)
            #expect(try await meet.call(.PATCH, "/rooms/\(id)/", json: ["name": "Mine"], token: bob).status == 403)
            #expect(try await meet.call(.DELETE, "/rooms/\(id)/", token: bob).status == 403)
        }
    }

    @Test func creationRulesAndPublicRooms() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let app = try await meet.application()
            let token = try await meet.token(app, for: "ann@example.org")
            // access_level is read-only on create (La Suite Meet): an API room is trusted.
            let asked = try await meet.call(.POST, "/rooms/", json: ["access_level": "public"], token: token)
            #expect(asked.status == 201 && asked.json?["access_level"] == "trusted")
            let id = try #require(asked.json?["id"]?.stringValue)
            let publicRoom = try await meet.call(.PATCH, "/rooms/\(id)/", json: ["access_level": "public"], token: token)
            #expect(publicRoom.status == 400 && publicRoom.json?["access_level"] != nil)
            let unknown = try await meet.call(.PATCH, "/rooms/\(id)/", json: ["access_level": "secret"], token: token)
            #expect(unknown.json?["access_level"] == ["\"secret\" is not a valid choice."])
            let badConfiguration = try await meet.call(.POST, "/rooms/", json: ["configuration": ["nope": true]], token: token)
            #expect(badConfiguration.status == 400 && badConfiguration.json?["configuration"] != nil)
            // A name's length is in code points, as Django counts it: 300 letters with a
            // combining mark each are 600, over the 500 allowed; 250 of them are 500.
            let marked = { (count: Int) in JSONValue.string(String(repeating: "e\u{0301}", count: count)) }
            let tooLong = try await meet.call(.PATCH, "/rooms/\(id)/", json: ["name": marked(300)], token: token)
            #expect(tooLong.status == 400 && tooLong.json?["name"] != nil, "\(tooLong.text)")
            #expect(try await meet.call(.PATCH, "/rooms/\(id)/", json: ["name": marked(250)], token: token).status == 200)
            let restricted = try await meet.call(.PATCH, "/rooms/\(id)/", json: ["access_level": "restricted"], token: token)
            #expect(restricted.status == 200 && restricted.json?["access_level"] == "restricted")
        }
        try await Meet.run(configure: { $0.allowPublicRooms = true }) { meet in
            try await meet.user("ann@example.org")
            let token = try await meet.token(try await meet.application(), for: "ann@example.org")
            let id = try #require(try await meet.call(.POST, "/rooms/", token: token).json?["id"]?.stringValue)
            #expect(try await meet.call(.PATCH, "/rooms/\(id)/", json: ["access_level": "public"], token: token).status == 200)
        }
    }

    @Test func telephonyGivesEachRoomAUniquePin() async throws {
        try await Meet.run(configure: { $0.telephony = .init(phoneNumber: "+33 1 23 45 67 89", defaultCountry: "FR"); $0.pinLength = 6 }) { meet in
            try await meet.user("ann@example.org")
            let token = try await meet.token(try await meet.application(), for: "ann@example.org")
            var pins = Set<String>()
            for _ in 0..<10 {
                let room = try await meet.call(.POST, "/rooms/", token: token).json
                let telephony = try #require(room?["telephony"])
                #expect(telephony["enabled"] == true && telephony["phone_number"] == "+33 1 23 45 67 89" && telephony["default_country"] == "FR")
                let pin = try #require(telephony["pin_code"]?.stringValue)
                #expect(pin.count == 6 && pin.allSatisfy(\.isNumber))
                pins.insert(pin)
            }
            #expect(pins.count == 10)
        }
    }

    @Test func onlyTheCreatingApplicationsOwnerDeletes() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let app = try await meet.application()
            let other = try await meet.application(name: "Other")
            let ann = try await meet.token(app, for: "ann@example.org")
            let annElsewhere = try await meet.token(other, for: "ann@example.org")
            let id = try #require(try await meet.call(.POST, "/rooms/", token: ann).json?["id"]?.stringValue)
            #expect(try await meet.call(.DELETE, "/rooms/\(id)/", token: annElsewhere).status == 403)
            let limited = try await meet.token(try await meet.application(scopes: ["rooms:list"]), for: "ann@example.org")
            #expect(try await meet.call(.DELETE, "/rooms/\(id)/", token: limited).status == 403)
            #expect(try await meet.call(.DELETE, "/rooms/\(id)/", token: ann).status == 204)
            #expect(try await meet.call(.GET, "/rooms/\(id)/", token: ann).status == 404)
            #expect(try await meet.call(.DELETE, "/rooms/\(id)/", token: ann).status == 404)
        }
    }

    @Test func theOwnerUpdatesARoom() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let token = try await meet.token(try await meet.application(), for: "ann@example.org")
            let id = try #require(try await meet.call(.POST, "/rooms/", token: token).json?["id"]?.stringValue)
            let updated = try await meet.call(
                .PATCH, "/rooms/\(id)/", json: ["name": "Weekly", "access_level": "restricted", "configuration": ["everyone_can_mute": false]],
                token: token)
            #expect(updated.status == 200)
            #expect(updated.json?["name"] == "Weekly" && updated.json?["access_level"] == "restricted")
            #expect(updated.json?["configuration"] == ["everyone_can_mute": false])
            #expect(try await meet.call(.PATCH, "/rooms/\(id)/", json: ["access_level": "public"], token: token).status == 400)
            #expect(try await meet.call(.PATCH, "/rooms/\(id)/", json: ["attendees": ["nope"]], token: token).status == 400)
            #expect(try await meet.call(.PATCH, "/rooms/\(UUID())/", json: ["name": "X"], token: token).status == 404)
        }
    }

    @Test func roomCreationIsRateLimitedPerApplication() async throws {
        try await Meet.run(rateLimits: try RateLimitSettings.parse("meet-rooms-create=2/3600")) { meet in
            try await meet.user("ann@example.org")
            let token = try await meet.token(try await meet.application(), for: "ann@example.org")
            #expect(try await meet.call(.POST, "/rooms/", token: token).status == 201)
            #expect(try await meet.call(.POST, "/rooms/", token: token).status == 201)
            let limited = try await meet.call(.POST, "/rooms/", token: token)
            #expect(limited.status == 429 && limited.header("Retry-After") != nil)
        }
    }
}
