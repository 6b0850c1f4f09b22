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

    /// The room as the External API shows it: La Suite Meet's fields (`id`, `slug`,
    /// `configuration`, `access_level`, `url`, `telephony` when on) with `name` and
    /// `created_at`. Attendees are not in it: any holder of `rooms:list` would see who
    /// was invited; they are on the attendees route and in the PATCH answer.
    func json(settings: MeetSettings) -> JSONValue {
        var members: [String: JSONValue] = [
            "id": .string(id.uuidString.lowercased()), "slug": .string(slug), "name": .string(name),
            "access_level": .string(accessLevel), "url": .string(settings.roomBaseURL + "/" + slug),
            "configuration": configuration, "created_at": .string(Self.iso(createdAt)),
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

/// A room's `configuration`, La Suite Meet's schema (a pydantic model there, extra keys
/// forbidden): `can_publish_sources`, the media participants may publish, and
/// `everyone_can_mute`. Anything else is refused with pydantic's words, so a client
/// learns at once that a key does nothing.
enum RoomConfiguration {
    static let sources = ["camera", "microphone", "screen_share", "screen_share_audio"]

    static func isPlainText(_ text: String, max: Int) -> Bool {
        text.codePoints <= max
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
        guard case .object(let members) = value else { return ["Input should be a valid dictionary"] }
        var problems: [String] = []
        let choices = sources.map { "'\($0)'" }.dropLast().joined(separator: ", ") + " or '\(sources.last ?? "")'"
        for (key, item) in members.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "can_publish_sources":
                guard case .array(let items) = item else {
                    problems.append("can_publish_sources: Input should be a valid list")
                    continue
                }
                for (index, source) in items.enumerated() where !(source.stringValue.map(sources.contains) ?? false) {
                    problems.append("can_publish_sources.\(index): Input should be \(choices)")
                }
            case "everyone_can_mute":
                if case .bool = item { continue }
                problems.append("everyone_can_mute: Input should be a valid boolean")
            default:
                problems.append("\(key.prefix(64)): Extra inputs are not permitted")
            }
        }
        return problems
    }
}
