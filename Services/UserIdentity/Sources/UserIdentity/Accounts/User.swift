import Foundation
import SuiteCore

/// An account. Emails are stored normalised (trimmed, lowercased), so they are unique
/// regardless of case.
struct User: Sendable {
    var id: UUID
    var email: String
    var fullname: String
    var locale: String
    var roles: [String]
    var passwordHash: String?
    var isEnabled: Bool
    /// Created by an admin without a password; becomes a full user by redeeming an
    /// invitation.
    var prototype: Bool
    var createdAt: Date
    var lastAuthenticationAt: Date?

    var idString: String { id.uuidString.lowercased() }

    func has(role: String) -> Bool { roles.contains(role) }
}

/// The roles the seed names.
enum Role {
    static let admin = "uai_admin"
    static let userManager = "uai_user_manager"
    static let invitationManager = "uai_invitation_manager"
    static let employee = "uai_employee"
    static let propertyAcquisitionAgent = "ROLE_PROPERTY_ACQUISITION_AGENT"
    static let accommodationProvider = "ROLE_ACCOMMODATION_PROVIDER"
}

extension User {
    /// `GET /users/{id}` and `GET /users/me`, as the seed writes them.
    var detail: JSONValue {
        .object([
            "id": .string(idString), "fullname": .string(fullname), "locale": .string(locale),
            "roles": .array(roles.map(JSONValue.string)), "email": .string(email), "createdAt": .string(Timestamp.iso(createdAt)),
            "lastAuthenticationAt": lastAuthenticationAt.map { .string(Timestamp.iso($0)) } ?? .null, "isEnabled": .bool(isEnabled),
        ])
    }
}

/// An entry of `GET /users`' `_embedded.users`, as the seed writes it.
struct UserListItem: Encodable {
    let user: User

    enum Keys: String, CodingKey {
        case id, email, roles, locale, fullname, createdAt, isEnabled, prototype, lastAuthenticationAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(user.idString, forKey: .id)
        try container.encode(user.email, forKey: .email)
        try container.encode(user.roles, forKey: .roles)
        try container.encode(user.locale, forKey: .locale)
        try container.encode(user.fullname, forKey: .fullname)
        try container.encode(Timestamp.plain(user.createdAt), forKey: .createdAt)
        try container.encode(user.isEnabled, forKey: .isEnabled)
        try container.encode(user.prototype, forKey: .prototype)
        try container.encode(user.lastAuthenticationAt.map(Timestamp.plain), forKey: .lastAuthenticationAt)
    }
}

/// The two date forms of the seed, written without a `DateFormatter` (this runs on
/// every `GET /users/me`).
enum Timestamp {
    /// `2004-02-12T15:20:21+00:00`
    static func iso(_ date: Date) -> String {
        let (d, t) = parts(date)
        return d + "T" + t + "+00:00"
    }

    /// `2017-08-24 10:18:30`
    static func plain(_ date: Date) -> String {
        let (d, t) = parts(date)
        return d + " " + t
    }

    /// `2017-07-03T11:20:35+0000`, the event bodies' form.
    static func compact(_ date: Date) -> String {
        let (d, t) = parts(date)
        return d + "T" + t + "+0000"
    }

    /// `2017-07-03T11:20:35.000Z`, the event store's `occurred_on`.
    static func millis(_ date: Date) -> String {
        let (d, t) = parts(date)
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        return d + "T" + t + "." + pad(ms, 3) + "Z"
    }

    private static func parts(_ date: Date) -> (String, String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var fields = tm()
        gmtime_r(&seconds, &fields)
        return (
            pad(Int(fields.tm_year) + 1900, 4) + "-" + pad(Int(fields.tm_mon) + 1, 2) + "-" + pad(Int(fields.tm_mday), 2),
            pad(Int(fields.tm_hour), 2) + ":" + pad(Int(fields.tm_min), 2) + ":" + pad(Int(fields.tm_sec), 2)
        )
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
