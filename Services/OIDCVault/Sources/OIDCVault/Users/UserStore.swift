import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// A user of a tenant, as the admin API shows it.
struct VaultUser: Sendable {
    var tenant: String
    var id: String
    var username: String
    var email: String
    var isDisabled: Bool
    var isVerified: Bool
    var locale: String?
    var roles: [String]
    var externalID: String?
    var createdAt: Date
    var updatedAt: Date

    var json: JSONValue {
        [
            "user_id": .string(id), "username": .string(username), "email": .string(email), "tenant_id": .string(tenant),
            "is_disabled": .bool(isDisabled), "is_verified": .bool(isVerified),
            "created_at": .string(Timestamp.millis(createdAt)), "updated_at": .string(Timestamp.millis(updatedAt)),
            "locale": locale.map { .string($0) } ?? .null, "roles": .array(roles.map { .string($0) }),
            "external_id": externalID.map { .string($0) } ?? .null,
        ]
    }

    /// The writable fields of a create or update body.
    static func read(_ fields: inout Fields, tenant: String) -> VaultUser? {
        let id = fields.string("user_id", max: 128, pattern: .identifier)
        let username = fields.string("username", max: 128, min: 1, pattern: .username)
        let email = fields.email("email")
        if let bodyTenant = fields.string("tenant_id", max: 64), bodyTenant != tenant {
            fields.problem("tenant_id", "tenant_id must match the path", type: "value_error")
        }
        let disabled = fields.bool("is_disabled") ?? false
        let verified = fields.bool("is_verified") ?? false
        let locale = fields.string("locale", required: false, nullable: true, max: 35)
        let roles = fields.strings("roles", maxCount: 50, maxLength: 64, nullable: true) ?? []
        let external = fields.string("external_id", required: false, nullable: true, max: 256)
        // Read for their shape only: the server keeps its own timestamps.
        _ = fields.dateTime("created_at")
        _ = fields.dateTime("updated_at", nullable: true)
        guard let id, let username, let email else { return nil }
        return VaultUser(
            tenant: tenant, id: id, username: username, email: email, isDisabled: disabled, isVerified: verified, locale: locale,
            roles: roles, externalID: external, createdAt: Date(), updatedAt: Date())
    }
}

struct UserStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    static let columns = "tenant_id, user_id, username, email, is_disabled, is_verified, locale, roles, external_id, created_at, updated_at"

    typealias Row = (String, String, String, String, Bool, Bool, String?, [String], String?, Date, Date)

    static func user(_ row: Row) -> VaultUser {
        VaultUser(
            tenant: row.0, id: row.1, username: row.2, email: row.3, isDisabled: row.4, isVerified: row.5, locale: row.6,
            roles: row.7, externalID: row.8, createdAt: row.9, updatedAt: row.10)
    }

    func find(tenant: String, id: String) async throws -> VaultUser? {
        try await first(PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM users WHERE tenant_id = $1 AND user_id = $2", binds: binds(tenant, id)))
    }

    func find(tenant: String, username: String) async throws -> VaultUser? {
        try await first(PostgresQuery(
            unsafeSQL: "SELECT \(Self.columns) FROM users WHERE tenant_id = $1 AND lower(username) = lower($2)", binds: binds(tenant, username)))
    }

    private func binds(_ values: String...) -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values { bindings.append(value) }
        return bindings
    }

    private func first(_ query: PostgresQuery) async throws -> VaultUser? {
        let rows = try await database.sql(query, logger: logger)
        for try await row in rows.decode(Row.self) { return Self.user(row) }
        return nil
    }

    enum InsertOutcome: Equatable {
        case created, usernameTaken, emailTaken, idTaken
    }

    /// Inserts one user in one statement: all of it or none.
    func insert(_ user: VaultUser, emailUnique: Bool, on connection: PostgresConnection? = nil) async throws -> InsertOutcome {
        let query: PostgresQuery = """
            INSERT INTO users (tenant_id, user_id, username, email, email_unique, is_disabled, is_verified, locale, roles, external_id)
            VALUES (\(user.tenant), \(user.id), \(user.username), \(user.email), \(emailUnique), \(user.isDisabled), \(user.isVerified),
                    \(user.locale), \(user.roles), \(user.externalID))
            ON CONFLICT DO NOTHING RETURNING 1
            """
        let rows = if let connection { try await connection.sql(query, logger: logger) } else { try await database.sql(query, logger: logger) }
        for try await _ in rows.decode(Int.self) { return .created }
        // Which uniqueness was hit, for the caller's message.
        let check = try await database.sql(
            """
            SELECT bool_or(user_id = \(user.id)), bool_or(lower(username) = lower(\(user.username))),
                   bool_or(email_unique AND lower(email) = lower(\(user.email)))
            FROM users WHERE tenant_id = \(user.tenant)
            """, logger: logger)
        for try await (id, username, email) in check.decode((Bool?, Bool?, Bool?).self) {
            if username == true { return .usernameTaken }
            if id == true { return .idTaken }
            if email == true { return .emailTaken }
        }
        return .usernameTaken
    }

    enum ProvisionOutcome: Equatable {
        case created, updated, taken
    }

    /// Flow 4: the user `user.id` made or set to `user`'s state in one statement (the
    /// credential, if any, stays). `taken`: another user has the username or email.
    func provision(_ user: VaultUser, emailUnique: Bool) async throws -> ProvisionOutcome {
        do {
            let rows = try await database.sql(
                """
                INSERT INTO users (tenant_id, user_id, username, email, email_unique, is_disabled, is_verified, locale, roles, external_id)
                VALUES (\(user.tenant), \(user.id), \(user.username), \(user.email), \(emailUnique), \(user.isDisabled), \(user.isVerified),
                        \(user.locale), \(user.roles), \(user.externalID))
                ON CONFLICT (tenant_id, user_id) DO UPDATE SET username = EXCLUDED.username, email = EXCLUDED.email,
                    email_unique = EXCLUDED.email_unique, is_disabled = EXCLUDED.is_disabled, is_verified = EXCLUDED.is_verified,
                    locale = EXCLUDED.locale, roles = EXCLUDED.roles, external_id = EXCLUDED.external_id, updated_at = now()
                RETURNING xmax = 0
                """, logger: logger)
            for try await created in rows.decode(Bool.self) { return created ? .created : .updated }
            return .taken
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            return .taken
        }
    }

    // MARK: - Second factors (`need_verify`)

    /// Sets the factors given (nil leaves one as it is).
    func setStepUp(tenant: String, userID: String, pinHash: String?, patternHash: String?) async throws {
        try await database.sql(
            """
            UPDATE users SET pin_hash = COALESCE(\(pinHash), pin_hash), pattern_hash = COALESCE(\(patternHash), pattern_hash),
                updated_at = now()
            WHERE tenant_id = \(tenant) AND user_id = \(userID)
            """, logger: logger)
    }

    func stepUpFactors(tenant: String, userID: String) async throws -> (pin: String?, pattern: String?)? {
        let rows = try await database.sql(
            "SELECT pin_hash, pattern_hash FROM users WHERE tenant_id = \(tenant) AND user_id = \(userID)", logger: logger)
        for try await (pin, pattern) in rows.decode((String?, String?).self) { return (pin, pattern) }
        return nil
    }

    struct PendingStepUp {
        let tenant: String
        let userID: String
        let needVerify: Bool
    }

    /// The authenticated, not yet completed login that `nonceHash` proves.
    func pendingStepUp(authReqID: String, nonceHash: [UInt8]) async throws -> PendingStepUp? {
        let rows = try await database.sql(
            """
            SELECT tenant_id, user_id, need_verify FROM auth_requests
            WHERE auth_req_id = \(authReqID) AND login_nonce_hash = \(ByteBuffer(bytes: nonceHash)) AND completed_at IS NULL
                AND expires_at > now() AND user_id IS NOT NULL
            """, logger: logger)
        for try await (tenant, userID, needVerify) in rows.decode((String, String, Bool).self) {
            return PendingStepUp(tenant: tenant, userID: userID, needVerify: needVerify)
        }
        return nil
    }

    func completeStepUp(authReqID: String) async throws {
        try await database.sql(
            "UPDATE auth_requests SET need_verify = false WHERE auth_req_id = \(authReqID) AND completed_at IS NULL", logger: logger)
    }

    /// A page of the tenant's users whose username and email contain the given texts,
    /// in `order` (`created_at DESC`, `lower(username) ASC`, … from the routes' enums,
    /// never the caller's text), one more than `limit` to tell whether a next page
    /// exists, and how many match in all.
    func search(tenant: String, username: String, email: String, order: String, limit: Int, offset: Int) async throws
        -> (users: [VaultUser], total: Int)
    {
        var binds = PostgresBindings()
        binds.append(tenant)
        binds.append(Self.likePattern(username))
        binds.append(Self.likePattern(email))
        binds.append(limit + 1)
        binds.append(offset)
        let sql = """
            SELECT \(Self.columns), count(*) OVER () FROM users
            WHERE tenant_id = $1 AND username ILIKE $2 AND email ILIKE $3
            ORDER BY \(order), user_id LIMIT $4 OFFSET $5
            """
        let rows = try await database.sql(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        var users: [VaultUser] = []
        var total = 0
        for try await row in rows.decode((String, String, String, String, Bool, Bool, String?, [String], String?, Date, Date, Int).self) {
            total = row.11
            users.append(Self.user((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10)))
        }
        if users.isEmpty, offset > 0 {
            // Past the end: the window count is not there, so count on its own.
            let count = try await database.sql(
                "SELECT count(*)::int FROM users WHERE tenant_id = \(tenant) AND username ILIKE \(Self.likePattern(username)) AND email ILIKE \(Self.likePattern(email))",
                logger: logger)
            for try await value in count.decode(Int.self) { total = value }
        }
        return (users, total)
    }

    /// `%text%` with LIKE's own characters escaped: a filter matches text, not patterns.
    static func likePattern(_ text: String) -> String {
        var out = "%"
        for character in text {
            if character == "%" || character == "_" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        out.append("%")
        return out
    }

    /// Deletes the users with their API keys, ending their sessions and refresh tokens.
    func delete(tenant: String, ids: [String]) async throws {
        try await database.withRequestTransaction(logger: logger) { connection in
            try await connection.sql(
                "UPDATE sessions SET revoked_at = now() WHERE tenant_id = \(tenant) AND user_id = ANY(\(ids)) AND revoked_at IS NULL",
                logger: logger)
            try await connection.sql(
                "UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = \(tenant) AND user_id = ANY(\(ids)) AND revoked_at IS NULL",
                logger: logger)
            try await connection.sql("DELETE FROM api_keys WHERE tenant_id = \(tenant) AND user_id = ANY(\(ids))", logger: logger)
            try await connection.sql("DELETE FROM users WHERE tenant_id = \(tenant) AND user_id = ANY(\(ids))", logger: logger)
        }
    }

    enum UpdateOutcome {
        case updated(VaultUser)
        case notFound
        /// Another user of the tenant has the username or the email.
        case taken(emailTaken: Bool)
    }

    func update(_ user: VaultUser, emailUnique: Bool) async throws -> UpdateOutcome {
        let rows: PostgresRowSequence
        do {
            rows = try await database.sql(
                """
                UPDATE users SET username = \(user.username), email = \(user.email), email_unique = \(emailUnique),
                    is_disabled = \(user.isDisabled), is_verified = \(user.isVerified), locale = \(user.locale), roles = \(user.roles),
                    external_id = \(user.externalID), updated_at = now()
                WHERE tenant_id = \(user.tenant) AND user_id = \(user.id)
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            return .taken(emailTaken: error.serverInfo?[.constraintName] == "users_email")
        }
        for try await row in rows.decode(Row.self) { return .updated(Self.user(row)) }
        return .notFound
    }

    /// Sets a new, unverified email; false when another user of the tenant has it.
    func changeEmail(tenant: String, userID: String, to email: String) async throws -> Bool {
        do {
            try await database.sql(
                "UPDATE users SET email = \(email), is_verified = false, updated_at = now() WHERE tenant_id = \(tenant) AND user_id = \(userID)",
                logger: logger)
            return true
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            return false
        }
    }

    /// The roles of an enabled user; nil when the user is gone or disabled.
    func roles(tenant: String, userID: String) async throws -> [String]? {
        let rows = try await database.sql(
            "SELECT roles FROM users WHERE tenant_id = \(tenant) AND user_id = \(userID) AND NOT is_disabled", logger: logger)
        for try await roles in rows.decode([String].self) { return roles }
        return nil
    }
}
