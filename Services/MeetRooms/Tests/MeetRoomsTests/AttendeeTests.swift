import Foundation
import SuiteCore
import SuiteHTTP
import SuiteTesting
import Testing

@testable import MeetRooms

/// Flow 2: attendees added to a room are invited by identity-associations, which mails
/// them; a peer that is down delays the invitations, never loses them.
@Suite struct AttendeeTests {
    @Test func attendeesAreInvitedOnceThroughIdentityAssociations() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let token = try await meet.token(try await meet.application(), for: "ann@example.org")
            let sink = try await SMTPSink.start()
            let identity = try await meet.identityAssociations(sink: sink)
            try await LiveServices.run([identity.service], readyURLs: [identity.ready]) {
                // A room's name is set by PATCH (create ignores it, as La Suite Meet does).
                let id = try #require(try await meet.call(.POST, "/rooms/", token: token).json?["id"]?.stringValue)
                let updated = try await meet.call(
                    .PATCH, "/rooms/\(id)/", json: ["name": "Planning", "attendees": ["Bob@Example.org", "carol@example.net", "bob@example.org"]],
                    token: token)
                #expect(updated.status == 200)
                #expect(updated.json?["attendees"] == ["bob@example.org", "carol@example.net"])

                let mail = try await sink.waitForMail(to: "bob@example.org")
                let slug = try #require(updated.json?["slug"]?.stringValue)
                #expect(mail.text.contains("https://meet.example.com/\(slug)"))
                #expect(mail.text.contains("Planning"))
                _ = try await sink.waitForMail(to: "carol@example.net")

                // The room lists who was invited.
                var attendees = try await meet.call(.GET, "/rooms/\(id)/attendees/", token: token)
                for _ in 0..<50 where attendees.json?["results"]?.arrayValue?.allSatisfy({ $0["invited"] == true }) != true {
                    try await Task.sleep(for: .milliseconds(100))
                    attendees = try await meet.call(.GET, "/rooms/\(id)/attendees/", token: token)
                }
                #expect(attendees.json?["count"] == 2)
                #expect(attendees.json?["results"]?.arrayValue?.allSatisfy { $0["invited"] == true } == true)

                // Adding one more mails only the new one.
                try await meet.call(
                    .PATCH, "/rooms/\(id)/", json: ["attendees": ["bob@example.org", "carol@example.net", "dan@example.org"]], token: token)
                _ = try await sink.waitForMail(to: "dan@example.org")
                try await Task.sleep(for: .milliseconds(800))
                #expect(sink.messages.filter { $0.recipients.contains("bob@example.org") }.count == 1)
                #expect(sink.messages.count == 3)
            }
            await sink.stop()
        }
    }

    @Test func identityAssociationsDownDelaysInvitationsButLosesNone() async throws {
        try await Meet.run { meet in
            try await meet.user("ann@example.org")
            let token = try await meet.token(try await meet.application(), for: "ann@example.org")
            let id = try #require(try await meet.call(.POST, "/rooms/", token: token).json?["id"]?.stringValue)
            // Nobody listens at identity-associations' address yet.
            let updated = try await meet.call(.PATCH, "/rooms/\(id)/", json: ["attendees": ["erin@example.org"]], token: token)
            #expect(updated.status == 200 && updated.json?["attendees"] == ["erin@example.org"])
            try await Task.sleep(for: .milliseconds(1200))
            let pending = try await meet.call(.GET, "/rooms/\(id)/attendees/", token: token)
            #expect(pending.json?["results"]?.arrayValue?.first?["invited"] == false)

            let sink = try await SMTPSink.start()
            let identity = try await meet.identityAssociations(sink: sink)
            try await LiveServices.run([identity.service], readyURLs: [identity.ready]) {
                // The relay tries again after its backoff (5 s for the first retry).
                let mail = try await sink.waitForMail(to: "erin@example.org", seconds: 20)
                #expect(mail.text.contains("https://meet.example.com/"))
            }
            await sink.stop()
        }
    }
}
