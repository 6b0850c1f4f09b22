import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of SCIM: users with their kept attributes, groups and their members (the
/// users holding the group's role).
struct SCIMStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    typealias Group = SCIMResources.SCIMGroup

    static let userColumns = UserStore.columns + ", scim_attributes::text"

    struct StoredUser: Sendable {
        var user: VaultUser
        var kept: [String: JSONValue]
    }

    private static func users(_ rows: PostgresRowSequence) async throws -> [StoredUser] {
        var result: [StoredUser] = []
        for try await row in rows.decode((String, String, String, String, Bool, Bool, String?, [String], String?, Date, Date, String?).self) {
            result.append(stored((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10, row.11)))
        }
        return result
    }

    private static func stored(_ row: (String, String, String, String, Bool, Bool, String?, [String], String?, Date, Date, String?)) -> StoredUser {
        let user = UserStore.user((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10))
        let kept = row.11.flatMap { try? JSONParser.parse(Array($0.utf8)).objectValue } ?? [:]
        return StoredUser(user: user, kept: kept)
    }

    /// The users the query selects, oldest first; the matcher decides on them when its
    /// condition is a superset.
    func users(_ query: SCIMUserQuery) async throws -> [StoredUser] {
        try await Self.users(database.sql(PostgresQuery(
            unsafeSQL: "SELECT \(Self.userColumns) FROM users WHERE tenant_id = $1 AND \(query.selecting.sql) ORDER BY created_at, user_id",
            binds: query.binds), logger: logger))
    }

    /// One page of the users an exact query selects, and how many it selects in all.
    func page(_ query: SCIMUserQuery, offset: Int, limit: Int) async throws -> ([StoredUser], total: Int) {
        let from = "FROM users WHERE tenant_id = $1 AND \(query.selecting.sql)"
        let rows = try await database.sql(PostgresQuery(
            unsafeSQL: "SELECT \(Self.userColumns), count(*) OVER () \(from) ORDER BY created_at, user_id LIMIT \(limit) OFFSET \(offset)",
            binds: query.binds), logger: logger)
        var users: [StoredUser] = []
        var total = 0
        for try await row in rows.decode((String, String, String, String, Bool, Bool, String?, [String], String?, Date, Date, String?, Int).self) {
            users.append(Self.stored((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10, row.11)))
            total = row.12
        }
        // A page past the end (or of size 0) has no row to carry the total.
        if users.isEmpty, offset > 0 || limit == 0 {
            for try await count in try await database.sql(PostgresQuery(unsafeSQL: "SELECT count(*) \(from)", binds: query.binds), logger: logger)
                .decode(Int.self)
            {
                total = count
            }
        }
        return (users, total)
    }

    func user(tenant: String, id: String) async throws -> StoredUser? {
        try await Self.users(database.sql(
            "SELECT \(unescaped: Self.userColumns) FROM users WHERE tenant_id = \(tenant) AND user_id = \(id)", logger: logger)).first
    }

    /// Creates the user; nil when the user name (or, where the tenant wants it, the email) is taken.
    func insert(_ user: VaultUser, kept: [String: JSONValue], emailUnique: Bool, users: UserStore) async throws -> UserStore.InsertOutcome {
        try await database.withTransaction(logger: logger) { connection in
            let outcome = try await users.insert(user, emailUnique: emailUnique, on: connection)
            if case .created = outcome {
                try await connection.sql(
                    """
                    UPDATE users SET scim_attributes = \(CanonicalJSON.string(.object(kept)))::jsonb
                    WHERE tenant_id = \(user.tenant) AND user_id = \(user.id)
                    """, logger: logger)
            }
            return outcome
        }
    }

    /// Replaces the user when its version is still `version` (nil: any); nil when it changed.
    func replace(_ user: VaultUser, kept: [String: JSONValue], emailUnique: Bool, version: Date?) async throws -> ReplaceOutcome {
        do {
            let rows = try await database.sql(
                """
                UPDATE users SET username = \(user.username), email = \(user.email), email_unique = \(emailUnique),
                    is_disabled = \(user.isDisabled), locale = \(user.locale), external_id = \(user.externalID),
                    scim_attributes = \(CanonicalJSON.string(.object(kept)))::jsonb,
                    updated_at = greatest(now(), updated_at + interval '1 millisecond')
                WHERE tenant_id = \(user.tenant) AND user_id = \(user.id)
                  AND (\(version)::timestamptz IS NULL OR date_trunc('milliseconds', updated_at) = date_trunc('milliseconds', \(version)::timestamptz))
                RETURNING \(unescaped: Self.userColumns)
                """, logger: logger)
            if let stored = try await Self.users(rows).first { return .replaced(stored) }
            return .changed
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            return .taken
        }
    }

    enum ReplaceOutcome {
        case replaced(StoredUser)
        case changed
        case taken
    }

    // MARK: Groups

    private static let groupSelect = """
        SELECT g.group_id, g.display_name, g.external_id, g.created_at, g.updated_at,
            coalesce((SELECT array_agg(u.user_id || chr(9) || u.username ORDER BY u.created_at, u.user_id) FROM users u
                WHERE u.tenant_id = g.tenant_id AND g.display_name = ANY(u.roles)), '{}')
        FROM scim_groups g
        """

    private static func groups(_ rows: PostgresRowSequence) async throws -> [Group] {
        var result: [Group] = []
        for try await (id, name, external, created, updated, members) in rows.decode((String, String, String?, Date, Date, [String]).self) {
            let pairs = members.map { member -> (id: String, username: String) in
                let parts = member.split(separator: "\t", maxSplits: 1)
                return (String(parts.first ?? ""), parts.count > 1 ? String(parts[1]) : "")
            }
            result.append(Group(id: id, displayName: name, externalID: external, members: pairs, createdAt: created, updatedAt: updated))
        }
        return result
    }

    func groups(tenant: String) async throws -> [Group] {
        try await Self.groups(database.sql(
            "\(unescaped: Self.groupSelect) WHERE g.tenant_id = \(tenant) ORDER BY g.created_at, g.group_id", logger: logger))
    }

    func group(tenant: String, id: String) async throws -> Group? {
        try await Self.groups(database.sql(
            "\(unescaped: Self.groupSelect) WHERE g.tenant_id = \(tenant) AND g.group_id = \(id)", logger: logger)).first
    }

    /// The groups among `roles`, for a user's `groups`.
    func groups(tenant: String, named roles: [String]) async throws -> [(id: String, name: String)] {
        guard !roles.isEmpty else { return [] }
        var result: [(id: String, name: String)] = []
        let rows = try await database.sql(
            "SELECT group_id, display_name FROM scim_groups WHERE tenant_id = \(tenant) AND display_name = ANY(\(roles)) ORDER BY display_name",
            logger: logger)
        for try await (id, name) in rows.decode((String, String).self) { result.append((id, name)) }
        return result
    }

    enum GroupOutcome {
        case saved
        case nameTaken
        case unknownMembers([String])
        case changed
        case notFound
    }

    /// Creates or replaces a group: its name (the role, renamed on every member when it
    /// changes) and exactly `members`, in one transaction. `version` as for users.
    func save(
        tenant: String, id: String, displayName: String, externalID: String?, members: [String], creating: Bool, version: Date?
    ) async throws -> GroupOutcome {
        do {
            return try await database.withTransaction(logger: logger) { connection -> GroupOutcome in
                let known = try await connection.sql(
                    "SELECT user_id FROM users WHERE tenant_id = \(tenant) AND user_id = ANY(\(members))", logger: logger)
                var found = Set<String>()
                for try await id in known.decode(String.self) { found.insert(id) }
                let unknown = members.filter { !found.contains($0) }
                if !unknown.isEmpty { return .unknownMembers(unknown) }
                var oldName: String?
                if creating {
                    try await connection.sql(
                        "INSERT INTO scim_groups (tenant_id, group_id, display_name, external_id) VALUES (\(tenant), \(id), \(displayName), \(externalID))",
                        logger: logger)
                } else {
                    let rows = try await connection.sql(
                        """
                        SELECT display_name, updated_at FROM scim_groups WHERE tenant_id = \(tenant) AND group_id = \(id) FOR UPDATE
                        """, logger: logger)
                    var current: (String, Date)?
                    for try await row in rows.decode((String, Date).self) { current = row }
                    guard let current else { return .notFound }
                    if let version, Int64((current.1.timeIntervalSince1970 * 1000).rounded()) != Int64((version.timeIntervalSince1970 * 1000).rounded()) {
                        return .changed
                    }
                    oldName = current.0
                    try await connection.sql(
                        """
                        UPDATE scim_groups SET display_name = \(displayName), external_id = \(externalID),
                            updated_at = greatest(now(), updated_at + interval '1 millisecond')
                        WHERE tenant_id = \(tenant) AND group_id = \(id)
                        """, logger: logger)
                }
                // Members: the old role goes from everyone, the (new) role to exactly these.
                let previous = oldName ?? displayName
                try await connection.sql(
                    """
                    UPDATE users SET roles = array_remove(roles, \(previous)), updated_at = now()
                    WHERE tenant_id = \(tenant) AND \(previous) = ANY(roles) AND NOT (user_id = ANY(\(members)) AND \(previous) = \(displayName))
                    """, logger: logger)
                try await connection.sql(
                    """
                    UPDATE users SET roles = array_append(roles, \(displayName)), updated_at = now()
                    WHERE tenant_id = \(tenant) AND user_id = ANY(\(members)) AND NOT \(displayName) = ANY(roles)
                    """, logger: logger)
                return .saved
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            return .nameTaken
        }
    }

    /// Deletes the group and takes its role from its members; false when there was none.
    func deleteGroup(tenant: String, id: String) async throws -> Bool {
        try await database.withTransaction(logger: logger) { connection in
            let rows = try await connection.sql(
                "DELETE FROM scim_groups WHERE tenant_id = \(tenant) AND group_id = \(id) RETURNING display_name", logger: logger)
            var name: String?
            for try await found in rows.decode(String.self) { name = found }
            guard let name else { return false }
            try await connection.sql(
                "UPDATE users SET roles = array_remove(roles, \(name)), updated_at = now() WHERE tenant_id = \(tenant) AND \(name) = ANY(roles)",
                logger: logger)
            return true
        }
    }
}
