import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// What every User&Identity route uses, built once at start.
struct Core: Sendable {
    let database: PostgresClient
    let logger: Logger
    let settings: UserIdentitySettings
    let tokens: UserTokens
    let passwords: PasswordHasher
    let mailer: UserMailer
    let users: UserStore
    var refreshTokens: RefreshTokenStore { RefreshTokenStore(database: database, logger: logger) }
    let rateLimiter: RateLimiter
    let serviceTokens: ServiceTokenVerifier
    /// The documents' bucket; nil when `UAI_S3_ENDPOINT` is not set.
    let storage: ObjectStorage?
    /// For calls to third parties (the phone verification provider).
    let http: HTTPClient
    /// The peers' internal base URLs, by service name.
    let peerURLs: [String: String]
    /// `PUBLIC_URL`: `Location` headers are absolute, so they stay right behind the gateway.
    let publicURL: String
    let metrics: HTTPMetrics

    func location(_ path: String) -> String { publicURL + path }

    /// The token of `Authorization`: `Bearer <jwt>`, or the bare `<jwt>` the seed's
    /// examples send.
    static func token(_ request: Request) -> String? {
        request.headers[.authorization].flatMap { AuthorizationHeader.token($0, allowBare: true) }
    }

    /// The signed-in caller (the signed-in group's authenticator verified the token), who must hold one
    /// of `roles` now; 403 otherwise. The token says who calls, PostgreSQL says what they
    /// may do: an account disabled, or a role removed, within the token's fifteen minutes
    /// takes effect at once (the look-up is batched with every other concurrent one, as
    /// `/users/me`'s is).
    func caller(_ context: UAIContext, anyOf roles: [String]) async throws -> UserClaims {
        let claims = try await activeCaller(context)
        guard claims.roles.contains(where: roles.contains) else {
            throw Problem.forbidden("This operation needs one of the roles: \(roles.joined(separator: ", "))")
        }
        return claims
    }

    /// The signed-in caller, whose account must still be enabled, with the roles it has now.
    func activeCaller(_ context: UAIContext) async throws -> UserClaims {
        var claims = try context.caller()
        guard let id = UUID(uuidString: claims.user_id), let user = try await users.find(id: id), user.isEnabled, !user.prototype else {
            throw Problem.unauthenticated("the account is disabled or no longer exists")
        }
        claims.roles = user.roles
        return claims
    }

    /// A user id from the path: a non-UUID is simply not found.
    func userID(_ context: some RequestContext, _ name: String = "id") throws(AppError) -> UUID {
        guard let text = context.parameters.get(name), let id = UUID(uuidString: text) else { throw Problem.notFound() }
        return id
    }

    func existingUser(_ id: UUID) async throws -> User {
        guard let user = try await users.find(id: id) else { throw Problem.notFound() }
        return user
    }

    /// Runs `body` in one transaction: the change, its events and its mails commit
    /// together or not at all.
    func transaction<T: Sendable>(
        isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> sending T
    ) async throws -> sending T {
        try await database.withRequestTransaction(logger: logger, isolation: isolation, body)
    }

    static func created(_ location: String) -> Response {
        Response(status: .created, headers: [.location: location])
    }

    static func noContent(location: String? = nil) -> Response {
        var headers = HTTPFields()
        if let location { headers[.location] = location }
        return Response(status: .noContent, headers: headers)
    }

    /// A human duration for mails: "1 hour", "7 days".
    static func validity(_ seconds: Int, locale: String) -> String {
        let spanish = locale.lowercased().hasPrefix("es")
        if seconds % 86_400 == 0 {
            let days = seconds / 86_400
            return spanish ? "\(days) \(days == 1 ? "día" : "días")" : "\(days) \(days == 1 ? "day" : "days")"
        }
        if seconds % 3_600 == 0 {
            let hours = seconds / 3_600
            return spanish ? "\(hours) \(hours == 1 ? "hora" : "horas")" : "\(hours) \(hours == 1 ? "hour" : "hours")"
        }
        let minutes = max(1, seconds / 60)
        return spanish ? "\(minutes) minutos" : "\(minutes) minutes"
    }
}

/// Field checks shared by the account operations, with the seed's messages.
extension Validator {
    mutating func fullname(_ value: String?) -> String? {
        guard let value = required(value, field: "fullname") else { return nil }
        length(value, field: "fullname", min: 4, max: 255)
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            messages.add("fullname", "invalidCharacters", "The input contains control characters")
        }
        return value
    }

    mutating func password(_ value: String?) -> String? {
        guard let value, !value.isEmpty else {
            messages.add("password", "isEmpty", "Value is required and can't be empty")
            return nil
        }
        length(value, field: "password", min: PasswordHasher.minimumLength)
        // bcrypt stops at a NUL byte: "abc\0xyz" would be the password "abc".
        if value.utf8.contains(0) {
            messages.add("password", "invalidCharacters", "The input contains a NUL character")
        }
        if value.utf8.count > PasswordHasher.maximumBytes {
            messages.add("password", "stringLengthTooLong", "The input is more than \(PasswordHasher.maximumBytes) bytes long")
        }
        return value
    }

    /// `en`, `es`, `es_ES`, `pt-BR`: a language and an optional region.
    mutating func locale(_ value: String?, default fallback: String = "en") -> String {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return fallback }
        let parts = value.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "_" || $0 == "-" })
        let valid = (1...2).contains(parts.count) && (2...3).contains(parts[0].count) && parts[0].allSatisfy(\.isLetter)
            && (parts.count == 1 || ((2...3).contains(parts[1].count) && parts[1].allSatisfy { $0.isLetter || $0.isNumber }))
        if !valid { messages.add("locale", "localeInvalid", "The input is not a valid locale") }
        return value
    }

    mutating func roles(_ values: [String]?, field: String = "roles") -> [String] {
        var result: [String] = []
        for role in values ?? [] {
            let trimmed = role.trimmingCharacters(in: .whitespaces)
            guard Self.isRoleName(trimmed) else {
                messages.add(field, "roleInvalid", "A role is 1 to 64 letters, digits, '_', '-', '.' or ':'")
                continue
            }
            if !result.contains(trimmed) { result.append(trimmed) }
        }
        return result
    }

    static func isRoleName(_ role: String) -> Bool {
        (1...64).contains(role.utf8.count)
            && role.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: ":")
            }
    }

    mutating func callback(_ value: String?, field: String, allowedHosts: Set<String>) -> String? {
        guard let value = required(value, field: field) else { return nil }
        if let problem = CallbackURL.problem(value, allowedHosts: allowedHosts) {
            messages.add(field, problem.rule, problem.message)
            return nil
        }
        return value
    }

    func checkSeed() throws(AppError) {
        if !messages.isEmpty { throw Problem.unprocessable(messages) }
    }
}
