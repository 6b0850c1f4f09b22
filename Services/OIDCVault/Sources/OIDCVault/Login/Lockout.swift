import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The tenant's `block_config`, enforced in PostgreSQL so every replica shares the
/// counts. An attempt is counted *before* it is verified (one atomic upsert per IP and
/// per user), so fifty parallel attempts cannot get more than the limit verified; a
/// success gives its attempt back. Reaching the limit blocks for `initial_block_seconds`,
/// doubled on each new block up to `max_block_time_minutes`; the escalation starts over
/// once a whole `ip_attempts_reset_minutes` passes without a block.
struct Lockout: Sendable {
    let database: PostgresClient
    let logger: Logger

    enum Kind: String {
        case ip, user
    }

    struct Subject {
        let kind: Kind
        let value: String
        let limit: Int
        let windowSeconds: Int
    }

    static func subjects(_ config: Tenant.BlockConfig, ip: String, userID: String?) -> [Subject] {
        var out = [Subject(kind: .ip, value: ip, limit: config.ipAttemptsLimit, windowSeconds: config.ipAttemptsResetMinutes * 60)]
        if let userID {
            out.append(Subject(kind: .user, value: userID, limit: config.userAttemptsLimit, windowSeconds: config.userTimeframeSeconds))
        }
        return out
    }

    /// Counts an attempt; throws 429 with `Retry-After` when a subject is blocked or has
    /// no attempts left, in which case nothing is verified. The IP is asked first, and an
    /// attempt it refuses is not counted against the user: only attempts that may be
    /// verified count, so a user is only ever refused by a block the admin API lists (or,
    /// for the moment its last attempts are being verified, until they are).
    func reserve(tenant: Tenant, ip: String, userID: String?) async throws {
        for subject in Self.subjects(tenant.blockConfig, ip: ip, userID: userID) {
            if let retryAfter = try await reserve(subject, tenant: tenant.id) {
                throw AppError(
                    status: .tooManyRequests, code: "too_many_requests", detail: "Too many failed attempts. Try again later.",
                    headers: [.retryAfter: String(retryAfter)])
            }
        }
    }

    /// One subject's attempt: counted unless the subject is blocked or its window is full.
    /// Nil when granted, else the exact seconds until it may try again: the block's end, or
    /// the window's end while attempts in flight are still being verified.
    private func reserve(_ subject: Subject, tenant: String) async throws -> Int? {
        let window = Double(subject.windowSeconds)
        let rows = try await database.sql(
            """
            INSERT INTO lockouts AS l (tenant_id, kind, subject, failures, window_start, refused)
            VALUES (\(tenant), \(subject.kind.rawValue), \(subject.value), 1, now(), false)
            ON CONFLICT (tenant_id, kind, subject) DO UPDATE SET
                failures = CASE WHEN l.blocked_until > now() THEN l.failures
                    WHEN l.window_start < now() - make_interval(secs => \(window)) THEN 1
                    WHEN l.failures >= \(subject.limit) THEN l.failures
                    ELSE l.failures + 1 END,
                window_start = CASE WHEN l.blocked_until > now() THEN l.window_start
                    WHEN l.window_start < now() - make_interval(secs => \(window)) THEN now()
                    ELSE l.window_start END,
                refused = COALESCE(l.blocked_until > now(), false)
                    OR (l.window_start >= now() - make_interval(secs => \(window)) AND l.failures >= \(subject.limit))
            RETURNING COALESCE(ceil(extract(epoch FROM l.blocked_until - now())), 0)::integer, l.refused,
                GREATEST(1, ceil(extract(epoch FROM l.window_start + make_interval(secs => \(window)) - now())))::integer
            """, logger: logger)
        for try await (blockedFor, refused, windowLeft) in rows.decode((Int, Bool, Int).self) {
            if blockedFor > 0 { return blockedFor }
            if refused { return windowLeft }
        }
        return nil
    }

    /// A failed verification: blocks every subject whose attempts reached the limit.
    func failed(tenant: Tenant, ip: String, userID: String?) async throws {
        let config = tenant.blockConfig
        let maxSeconds = Double(config.maxBlockTimeMinutes * 60)
        let initial = Double(config.initialBlockSeconds)
        let reset = Double(config.ipAttemptsResetMinutes * 60)
        for subject in Self.subjects(config, ip: ip, userID: userID) {
            try await database.sql(
                """
                UPDATE lockouts SET
                    block_seconds = LEAST(\(maxSeconds), CASE WHEN block_seconds = 0 OR blocked_at < now() - make_interval(secs => \(reset))
                        THEN \(initial) ELSE block_seconds * 2 END),
                    blocked_until = now() + make_interval(secs => LEAST(\(maxSeconds), CASE WHEN block_seconds = 0
                        OR blocked_at < now() - make_interval(secs => \(reset)) THEN \(initial) ELSE block_seconds * 2 END)),
                    blocked_at = now(), failures = 0, window_start = now()
                WHERE tenant_id = \(tenant.id) AND kind = \(subject.kind.rawValue) AND subject = \(subject.value)
                    AND failures >= \(subject.limit) AND (blocked_until IS NULL OR blocked_until <= now())
                """, logger: logger)
        }
    }

    /// A success gives back the IP's attempt and clears the user's count.
    func succeeded(tenant: Tenant, ip: String, userID: String) async throws {
        try await database.sql(
            """
            UPDATE lockouts SET failures = CASE WHEN kind = 'user' THEN 0 ELSE GREATEST(failures - 1, 0) END
            WHERE tenant_id = \(tenant.id) AND ((kind = 'ip' AND subject = \(ip)) OR (kind = 'user' AND subject = \(userID)))
            """, logger: logger)
    }

    /// The subjects blocked now, a page of them with the user's name and email for
    /// users, and how many there are in all.
    func blocked(tenant: String, kind: Kind, offset: Int, limit: Int, newestFirst: Bool) async throws
        -> (blocks: [(subject: String, at: Date, seconds: Int, username: String?, email: String?)], total: Int)
    {
        let rows = try await database.sql(
            """
            SELECT l.subject, l.blocked_at, l.block_seconds, u.username, u.email, count(*) OVER ()
            FROM lockouts l LEFT JOIN users u ON l.kind = 'user' AND u.tenant_id = l.tenant_id AND u.user_id = l.subject
            WHERE l.tenant_id = \(tenant) AND l.kind = \(kind.rawValue) AND l.blocked_until > now()
            ORDER BY l.blocked_at \(unescaped: newestFirst ? "DESC" : "ASC"), l.subject LIMIT \(limit) OFFSET \(offset)
            """, logger: logger)
        var blocks: [(subject: String, at: Date, seconds: Int, username: String?, email: String?)] = []
        var total = 0
        for try await (subject, at, seconds, username, email, count) in rows.decode((String, Date, Int, String?, String?, Int).self) {
            total = count
            blocks.append((subject, at, seconds, username, email))
        }
        return (blocks, total)
    }

    /// Lifts a block in force; false when there is none.
    func unblock(tenant: String, kind: Kind, subject: String) async throws -> Bool {
        let rows = try await database.sql(
            """
            UPDATE lockouts SET blocked_until = NULL, failures = 0, window_start = now()
            WHERE tenant_id = \(tenant) AND kind = \(kind.rawValue) AND subject = \(subject) AND blocked_until > now()
            RETURNING 1
            """, logger: logger)
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }
}
