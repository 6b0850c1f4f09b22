import Foundation
import SuiteCore
import SuiteSigning
import Testing

@testable import MeetRooms

@Suite struct RoomJSONTests {
    /// The listing's direct writer and the dictionary form say the same, byte for byte.
    @Test(arguments: [false, true])
    func theFastWriterMatchesTheCanonicalForm(telephony: Bool) {
        var settings = MeetSettings(signingKey: .generate(), roomBaseURL: "https://meet.example.com")
        if telephony { settings.telephony = .init(phoneNumber: "+33 1 \"23\"", defaultCountry: "FR") }
        let room = Room(
            id: UUID(), slug: "abc-defg-hij", name: "Quarterly \"review\" \u{1F600}\n", accessLevel: "trusted",
            configuration: ["everyone_can_mute": false, "can_publish_sources": ["camera", "screen_share"]], pinCode: telephony ? "0123456789" : nil,
            createdByApplication: "app", createdAt: Date(timeIntervalSince1970: 1_700_000_000), attendees: ["a@example.org", "b@example.org"])
        var written: [UInt8] = []
        room.write(into: &written, settings: settings)
        #expect(written == CanonicalJSON.bytes(room.json(settings: settings)))
    }
}
