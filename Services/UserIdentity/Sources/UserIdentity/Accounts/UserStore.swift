import Foundation
import Logging
import PostgresNIO
import SuiteCore
import SuitePostgres

/// The SQL of accounts, and nothing else.
struct UserStore: Sendable {
    let database: PostgresClient
    let logger: Logger
    /// `find(id:)` goes through it: concurrent `GET /users/me` share one query.
    private let byID: QueryBatcher<UUID, User>

    init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
        byID = QueryBatcher { ids, logger in
            var found: [UUID: User] = [:]
            found.reserveCapacity(ids.count)
            for try await user in try await database.sql(ByIDs(ids: ids), logger: logger) { found[user.id] = user }
            return found
        }
    }

    fileprivate typealias Row = (UUID, String, String, String, [String], String?, Bool, Bool, Date, Date?)

    fileprivate static func user(_ row: Row) -> User {
        User(
            id: row.0, email: row.1, fullname: row.2, locale: row.3, roles: row.4, passwordHash: row.5, isEnabled: row.6,
            prototype: row.7, createdAt: row.8, lastAuthenticationAt: row.9)
    }

    static let columns = "id, email, fullname, locale, roles, password_hash, is_enabled, prototype, created_at, last_authentication_at"

    private func first(_ rows: PostgresRowSequence) async throws -> User? {
        for try await row in rows.decode(Row.self) { return Self.user(row) }
        return nil
    }

    /// Prepared once per connection: this is the query behind every `GET /users/me`.
    struct ByID: PostgresPreparedStatement {
        /// Named once: the protocol's default builds the name by reflection on every call.
        static let name = "uai_user_by_id"
        static let sql = "SELECT \(UserStore.columns) FROM users WHERE id = $1"
        typealias Row = User
        let id: UUID

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(id)
            return bindings
        }

        /// Column by column: decoding a ten-element tuple goes through generic metadata
        /// at run time, which cost more than the query on this path.
        func decodeRow(_ row: PostgresRow) throws -> User { try Self.decode(row) }

        static func decode(_ row: PostgresRow) throws -> User {
            let columns = row.makeRandomAccess()
            return User(
                id: try columns[0].decode(UUID.self), email: try columns[1].decode(String.self),
                fullname: try columns[2].decode(String.self), locale: try columns[3].decode(String.self),
                roles: try columns[4].decode([String].self), passwordHash: try columns[5].decode(String?.self),
                isEnabled: try columns[6].decode(Bool.self), prototype: try columns[7].decode(Bool.self),
                createdAt: try columns[8].decode(Date.self), lastAuthenticationAt: try columns[9].decode(Date?.self))
        }
    }

    /// Prepared: many users by id, for the batcher behind `find(id:)`.
    struct ByIDs: PostgresPreparedStatement {
        static let name = "uai_users_by_ids"
        static let sql = "SELECT \(UserStore.columns) FROM users WHERE id = ANY($1)"
        typealias Row = User
        let ids: [UUID]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(ids)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> User { try ByID.decode(row) }
    }

    func find(id: UUID) async throws -> User? {
        try await byID.load(id, logger: logger)
    }

    /// Prepared: logins and meet-rooms' delegation look users up by email.
    struct ByEmail: PostgresPreparedStatement {
        static let name = "uai_user_by_email"
        static let sql = "SELECT \(UserStore.columns) FROM users WHERE email = $1"
        typealias Row = User
        let email: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(email)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> User { try ByID.decode(row) }
    }

    func find(email: String) async throws -> User? {
        for try await user in try await database.sql(ByEmail(email: Validate.normalizedEmail(email)), logger: logger) { return user }
        return nil
    }

    /// The user, locked for the rest of `connection`'s transaction.
    func lock(id: UUID, on connection: PostgresConnection) async throws -> User? {
        try await first(connection.sql(
            "SELECT \(unescaped: Self.columns) FROM users WHERE id = \(id) FOR UPDATE", logger: logger))
    }

    /// Locks every user holding `role`, in id order (one order for every caller, so two
    /// transactions doing this cannot deadlock), and returns their ids.
    func lockAll(withRole role: String, on connection: PostgresConnection) async throws -> [UUID] {
        let rows = try await connection.sql(
            "SELECT id FROM users WHERE \(role) = ANY(roles) ORDER BY id FOR UPDATE", logger: logger)
        var ids: [UUID] = []
        for try await id in rows.decode(UUID.self) { ids.append(id) }
        return ids
    }

    func emailExists(_ email: String, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.sql("SELECT 1 FROM users WHERE email = \(email)", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Inserts `user` and writes `UserWasCreated`; a taken email is the seed's 409.
    func insert(_ user: User, on connection: PostgresConnection) async throws {
        if try await emailExists(user.email, on: connection) { throw Problem.emailInUse }
        do {
            try await connection.sql(
                """
                INSERT INTO users (id, email, fullname, locale, roles, password_hash, is_enabled, prototype, created_at)
                VALUES (\(user.id), \(user.email), \(user.fullname), \(user.locale), \(user.roles), \(user.passwordHash),
                        \(user.isEnabled), \(user.prototype), \(user.createdAt))
                """, logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            // Two sign-ups with one email at the same instant: the index decides.
            throw Problem.emailInUse
        }
        try await EventStore.record(
            "UserWasCreated",
            [
                "userId": .string(user.idString), "email": .string(user.email), "fullname": .string(user.fullname),
                "locale": .string(user.locale), "roles": .array(user.roles.map { .string($0) }),
                "prototype": .bool(user.prototype), "isEnabled": .bool(user.isEnabled),
            ], on: connection, logger: logger)
    }

    struct Search {
        var role: String?
        var email: String?
        var ids: [UUID]?
        var page: Int
        var size: Int
    }

    /// One query text for the page and the count, so the two never disagree. The tail
    /// holds only integers, so writing it unescaped is safe.
    private func filtered(_ select: String, _ search: Search, tail: String) -> PostgresQuery {
        let role = search.role ?? ""
        let email = search.email.map(Validate.normalizedEmail) ?? ""
        return """
            SELECT \(unescaped: select) FROM users
            WHERE (\(role) = '' OR roles @> ARRAY[\(role)]::text[])
              AND (\(email) = '' OR email = \(email))
              AND (\(search.ids == nil) OR id = ANY(\(search.ids ?? [])::uuid[]))
            \(unescaped: tail)
            """
    }

    func search(_ search: Search) async throws -> (users: [User], total: Int) {
        var users: [User] = []
        var total = 0
        let rows = try await database.sql(
            filtered(
                Self.columns + ", count(*) OVER ()", search,
                tail: "ORDER BY created_at, id LIMIT \(search.size) OFFSET \((search.page - 1) * search.size)"),
            logger: logger)
        for try await row in rows {
            let (a, b, c, d, e, f, g, h, i, j, count) = try row.decode(
                (UUID, String, String, String, [String], String?, Bool, Bool, Date, Date?, Int).self)
            users.append(Self.user((a, b, c, d, e, f, g, h, i, j)))
            total = count
        }
        if users.isEmpty && search.page > 1 {
            // Past the last page: still report the total.
            let counted = try await database.sql(filtered("count(*)", search, tail: ""), logger: logger)
            for try await count in counted.decode(Int.self) { total = count }
        }
        return (users, total)
    }

    // MARK: - Changes, each inside the caller's transaction (with its event and mail)

    /// Enables or disables the account; a disabled one keeps no way back in: its refresh
    /// tokens are revoked and its pending activation goes.
    func setEnabled(_ id: UUID, _ enabled: Bool, on connection: PostgresConnection) async throws {
        try await connection.sql("UPDATE users SET is_enabled = \(enabled) WHERE id = \(id)", logger: logger)
        if !enabled {
            try await revokeRefreshTokens(of: id, on: connection)
            try await connection.sql("DELETE FROM activations WHERE user_id = \(id)", logger: logger)
        }
    }

    func addRole(_ role: String, to id: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql("UPDATE users SET roles = array_append(roles, \(role)) WHERE id = \(id)", logger: logger)
    }

    func removeRole(_ role: String, from id: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql("UPDATE users SET roles = array_remove(roles, \(role)) WHERE id = \(id)", logger: logger)
    }

    /// False when another account has the address.
    func setEmail(_ email: String, of id: UUID, on connection: PostgresConnection) async throws -> Bool {
        do {
            try await connection.sql("UPDATE users SET email = \(email) WHERE id = \(id)", logger: logger)
            return true
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            return false
        }
    }

    func setInformation(of id: UUID, fullname: String, locale: String, on connection: PostgresConnection) async throws {
        try await connection.sql("UPDATE users SET fullname = \(fullname), locale = \(locale) WHERE id = \(id)", logger: logger)
    }

    /// Every refresh token of the account stops working (a password reset, for instance).
    func revokeRefreshTokens(of id: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = \(id) AND revoked_at IS NULL", logger: logger)
    }

    func setPassword(hash: String, of id: UUID, on connection: PostgresConnection) async throws {
        try await connection.sql("UPDATE users SET password_hash = \(hash) WHERE id = \(id)", logger: logger)
    }

    // MARK: - Email changes

    func insertEmailChange(tokenHash: ByteBuffer, user: UUID, email: String, expires: Date, on connection: PostgresConnection) async throws {
        try await connection.sql(
            """
            INSERT INTO email_changes (token_hash, user_id, new_email, expires_at)
            VALUES (\(tokenHash), \(user), \(email), \(expires))
            """, logger: logger)
    }

    /// The unexpired change with this token (locked): who, to which address, and
    /// whether it was used already.
    func lockEmailChange(tokenHash: ByteBuffer, on connection: PostgresConnection) async throws -> (user: UUID, email: String, used: Bool)? {
        let rows = try await connection.sql(
            """
            SELECT user_id, new_email, used_at IS NOT NULL FROM email_changes
            WHERE token_hash = \(tokenHash) AND expires_at > now() FOR UPDATE
            """, logger: logger)
        for try await row in rows.decode((UUID, String, Bool).self) { return row }
        return nil
    }

    func markEmailChangeUsed(tokenHash: ByteBuffer, on connection: PostgresConnection) async throws {
        try await connection.sql("UPDATE email_changes SET used_at = now() WHERE token_hash = \(tokenHash)", logger: logger)
    }

    // MARK: - Activation codes

    /// The user's activation code, replacing any earlier one.
    func replaceActivation(codeHash: ByteBuffer, user: UUID, expires: Date, on connection: PostgresConnection) async throws {
        try await connection.sql("DELETE FROM activations WHERE user_id = \(user)", logger: logger)
        try await connection.sql(
            "INSERT INTO activations (code_hash, user_id, expires_at) VALUES (\(codeHash), \(user), \(expires))", logger: logger)
    }

    /// Uses the unexpired code and enables its account; the account, or nil.
    func activate(codeHash: ByteBuffer, on connection: PostgresConnection) async throws -> UUID? {
        let rows = try await connection.sql(
            "DELETE FROM activations WHERE code_hash = \(codeHash) AND expires_at > now() RETURNING user_id", logger: logger)
        var found: UUID?
        for try await id in rows.decode(UUID.self) { found = id }
        guard let found else { return nil }
        try await connection.sql("UPDATE users SET is_enabled = true WHERE id = \(found)", logger: logger)
        return found
    }

    func awaitsActivation(_ user: UUID, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.sql("SELECT 1 FROM activations WHERE user_id = \(user)", logger: logger)
        for try await _ in rows { return true }
        return false
    }
}
