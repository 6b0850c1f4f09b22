import Foundation
import SuiteCore

/// A video room.
struct Room: Sendable {
    var id: UUID
    var slug: String
    var name: String
    var accessLevel: String
    var configuration: JSONValue
    var pinCode: String?
    var createdByApplication: String?
    var createdAt: Date
    var attendees: [String]

    static let accessLevels = ["public", "trusted", "restricted"]

    /// The room as the External API shows it.
    func json(settings: MeetSettings) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .string(id.uuidString.lowercased()), "slug": .string(slug), "name": .string(name),
            "access_level": .string(accessLevel), "url": .string(settings.roomBaseURL + "/" + slug),
            "configuration": configuration, "created_at": .string(Self.iso(createdAt)),
            "attendees": .array(attendees.map(JSONValue.string)),
        ]
        if let telephony = settings.telephony {
            members["telephony"] = [
                "enabled": true, "pin_code": pinCode.map(JSONValue.string) ?? .null,
                "phone_number": .string(telephony.phoneNumber), "default_country": .string(telephony.defaultCountry),
            ]
        }
        return .object(members)
    }

    /// The same JSON as `json(settings:)`, written straight into `out`: listings write
    /// twenty of these per request, and building dictionaries first cost more than
    /// the database did.
    func write(into out: inout [UInt8], settings: MeetSettings) {
        func key(_ name: StaticString) {
            out.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func string(_ value: String) { CanonicalJSON.writeString(value, into: &out) }
        out.append(UInt8(ascii: "{"))
        key("access_level"); string(accessLevel); out.append(UInt8(ascii: ","))
        key("attendees"); out.append(UInt8(ascii: "["))
        for (index, email) in attendees.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            string(email)
        }
        out.append(contentsOf: [UInt8(ascii: "]"), UInt8(ascii: ",")])
        key("configuration"); CanonicalJSON.write(configuration, into: &out); out.append(UInt8(ascii: ","))
        key("created_at"); string(Self.iso(createdAt)); out.append(UInt8(ascii: ","))
        key("id"); string(id.uuidString.lowercased()); out.append(UInt8(ascii: ","))
        key("name"); string(name); out.append(UInt8(ascii: ","))
        key("slug"); string(slug); out.append(UInt8(ascii: ","))
        if let telephony = settings.telephony {
            key("telephony")
            CanonicalJSON.write(
                ["enabled": true, "pin_code": pinCode.map(JSONValue.string) ?? .null,
                 "phone_number": .string(telephony.phoneNumber), "default_country": .string(telephony.defaultCountry)], into: &out)
            out.append(UInt8(ascii: ","))
        }
        key("url"); string(settings.roomBaseURL + "/" + slug)
        out.append(UInt8(ascii: "}"))
    }

    static func iso(_ date: Date) -> String {
        Timestamp.iso(date)
    }
}

/// Slugs as the anchor makes them: `abc-defg-hij`, lowercase letters.
enum Slug {
    private static let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)

    static func make() -> String {
        let bytes = SecureRandom.string(count: 10, alphabet: letters)
        let chars = Array(bytes)
        return String(chars[0..<3]) + "-" + String(chars[3..<7]) + "-" + String(chars[7..<10])
    }

    /// A dial-in PIN of `length` digits.
    static func pin(length: Int) -> String {
        SecureRandom.string(count: length, alphabet: Array("0123456789".utf8))
    }
}

/// The keys a room's `configuration` may hold, with their types, as the web app reads
/// them; anything else is refused so a typo does not silently do nothing.
enum RoomConfiguration {
    enum Kind { case bool, string, strings }

    static let keys: [String: Kind] = [
        "can_publish_sources": .strings,
        "everyone_can_publish": .bool,
        "lobby_enabled": .bool,
        "recording_enabled": .bool,
        "transcription_enabled": .bool,
        "chat_enabled": .bool,
        "screen_sharing_enabled": .bool,
        "language": .string,
    ]

    static func isPlainText(_ text: String, max: Int) -> Bool {
        text.count <= max
    }

    /// PostgreSQL cannot store NUL in text: it becomes U+FFFD, as a decoder would show it.
    static func storable(_ text: String) -> String {
        text.utf8.contains(0) ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }

    static func storable(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text): .string(storable(text))
        case .array(let items): .array(items.map(storable))
        case .object(let members): .object(Dictionary(uniqueKeysWithValues: members.map { (storable($0.key), storable($0.value)) }))
        default: value
        }
    }

    /// The field errors of `value`, DRF-style, or none.
    static func problems(_ value: JSONValue) -> [String] {
        guard case .object(let members) = value else { return ["Expected a dictionary of items."] }
        var problems: [String] = []
        for (key, item) in members.sorted(by: { $0.key < $1.key }) {
            guard let kind = keys[key] else {
                problems.append("Unknown key \"\(key)\"; known keys are \(keys.keys.sorted().joined(separator: ", ")).")
                continue
            }
            let fits: Bool
            switch (kind, item) {
            case (.bool, .bool): fits = true
            case (.string, .string(let text)): fits = isPlainText(text, max: 64)
            case (.strings, .array(let items)):
                fits = items.count <= 16 && items.allSatisfy { if case .string(let s) = $0 { isPlainText(s, max: 64) } else { false } }
            default: fits = false
            }
            if !fits { problems.append("\"\(key)\" has the wrong type.") }
        }
        return problems
    }
}
