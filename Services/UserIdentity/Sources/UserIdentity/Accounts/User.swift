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
    static let documentManager = "uai_tenant_document_manager"
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

/// What `POST /users` and `POST /user-prototypes` take.
struct NewUser: Decodable {
    var fullname: String?
    var email: String?
    var locale: String?
    var roles: [String]?
}

extension User {
    /// A new account from its fields, checked with the seed's messages (422 otherwise); a
    /// prototype waits, disabled, for its invitation to be redeemed.
    static func new(from input: NewUser, prototype: Bool) throws -> User {
        var validator = Validator()
        let fullname = validator.fullname(input.fullname)
        let email = validator.email(input.email)
        let locale = validator.locale(input.locale)
        let roles = validator.roles(input.roles)
        try validator.checkSeed()
        guard let fullname, let email else { throw Problem.unprocessable(validator.messages) }
        return User(
            id: UUID(), email: email, fullname: fullname, locale: locale, roles: roles, passwordHash: nil,
            isEnabled: !prototype, prototype: prototype, createdAt: Date(), lastAuthenticationAt: nil)
    }
}
