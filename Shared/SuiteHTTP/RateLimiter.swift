import Crypto
import Foundation
public import Logging
public import PostgresNIO
public import SuiteCore

/// One limit: at most `limit` hits per `windowSeconds` for each key (an IP, an email, a
/// client id) under `name`.
public struct RateLimit: Sendable, Equatable {
    public let name: String
    public let limit: Int
    public let windowSeconds: Int

    public init(name: String, limit: Int, windowSeconds: Int) {
        self.name = name
        self.limit = limit
        self.windowSeconds = windowSeconds
    }
}

/// The operator's word on rate limits, from `RATE_LIMITS`: `off`, or overrides of the
/// services' defaults as `name=limit/seconds,…` (`authentications-ip=20/60`).
public struct RateLimitSettings: Sendable, Equatable {
    public var enabled: Bool
    public var overrides: [String: (limit: Int, windowSeconds: Int)]

    public init(enabled: Bool = true, overrides: [String: (limit: Int, windowSeconds: Int)] = [:]) {
        self.enabled = enabled
        self.overrides = overrides
    }

    public static func == (lhs: RateLimitSettings, rhs: RateLimitSettings) -> Bool {
        lhs.enabled == rhs.enabled && lhs.overrides.mapValues { [$0.limit, $0.windowSeconds] }
            == rhs.overrides.mapValues { [$0.limit, $0.windowSeconds] }
    }

    public static func parse(_ text: String?, variable: String = "RATE_LIMITS") throws(ConfigurationError) -> RateLimitSettings {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return RateLimitSettings() }
        switch text.lowercased() {
        case "on": return RateLimitSettings()
        case "off": return RateLimitSettings(enabled: false)
        default: break
        }
        var settings = RateLimitSettings()
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let parts = entry.split(separator: "=", maxSplits: 1)
            let numbers = parts.count == 2 ? parts[1].split(separator: "/") : []
            guard parts.count == 2, numbers.count == 2, let limit = Int(numbers[0]), let seconds = Int(numbers[1]),
                limit > 0, (1...86_400).contains(seconds)
            else {
                throw ConfigurationError(variable, "entry \"\(entry)\" must be name=limit/seconds (or the whole value on/off)")
            }
            settings.overrides[String(parts[0])] = (limit, seconds)
        }
        return settings
    }

    /// The limit to apply: the operator's override, else the service's default.
    public func effective(_ limit: RateLimit) -> RateLimit {
        guard let override = overrides[limit.name] else { return limit }
        return RateLimit(name: limit.name, limit: override.limit, windowSeconds: override.windowSeconds)
    }
}

/// Counts hits in PostgreSQL, so every replica shares one count: a fixed window per key,
/// bumped by a single `INSERT … ON CONFLICT DO UPDATE … RETURNING`, which PostgreSQL
/// runs atomically per row — fifty parallel hits count fifty. Keys are stored as SHA-256,
/// so the table holds no email or IP address.
///
/// A service adds `RateLimiter.tableSQL` to one of its migrations.
public struct RateLimiter: Sendable {
    public static let tableSQL = """
        CREATE TABLE rate_limit_hits (
            bucket text NOT NULL,
            window_start timestamptz NOT NULL,
            hits integer NOT NULL,
            PRIMARY KEY (bucket, window_start)
        );
        CREATE INDEX rate_limit_hits_window ON rate_limit_hits (window_start);
        """

    public struct Decision: Sendable, Equatable {
        public let allowed: Bool
        public let hits: Int
        public let retryAfterSeconds: Int
    }

    let database: PostgresClient
    let settings: RateLimitSettings
    let logger: Logger
    /// Refusals are counted by limit (`suite_rate_limited_total{limit}`).
    let metrics: HTTPMetrics?

    public init(database: PostgresClient, settings: RateLimitSettings, logger: Logger, metrics: HTTPMetrics? = nil) {
        self.database = database
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
    }

    /// Counts one hit for `key` and says whether it is within the limit.
    public func hit(_ limit: RateLimit, key: String) async throws -> Decision {
        try await hits([(limit, key)])[0]
    }

    /// Counts one hit for each key, all in one statement and one commit, and says for
    /// each whether it is within its limit.
    public func hits(_ checks: [(RateLimit, String)]) async throws -> [Decision] {
        let limits = checks.map { settings.effective($0.0) }
        let buckets = zip(limits, checks).map { limit, check in
            limit.name + ":" + SecureRandom.hexString(SHA256.hash(data: Array(check.1.utf8)))
        }
        // One row per bucket (an upsert touches a row once per statement), in sorted
        // order, so concurrent requests lock their buckets in the same order.
        var windows: [String: Int] = [:]
        for (bucket, limit) in zip(buckets, limits) { windows[bucket] = limit.windowSeconds }
        let unique = windows.keys.sorted()
        let rows = try await database.sql(
            """
            INSERT INTO rate_limit_hits AS h (bucket, window_start, hits)
            SELECT q.bucket, to_timestamp(floor(extract(epoch FROM clock_timestamp()) / q.secs) * q.secs), 1
            FROM unnest(\(unique)::text[], \(unique.map { windows[$0]! })::integer[]) WITH ORDINALITY AS q(bucket, secs, n)
            ORDER BY q.n
            ON CONFLICT (bucket, window_start) DO UPDATE SET hits = h.hits + 1
            RETURNING h.bucket, h.hits, extract(epoch FROM h.window_start - clock_timestamp())::float8
            """, logger: logger)
        var counted: [String: (hits: Int, startsIn: Double)] = [:]
        for try await (bucket, hits, startsIn) in rows.decode((String, Int, Double).self) { counted[bucket] = (hits, startsIn) }
        return zip(buckets, limits).map { bucket, limit in
            guard let count = counted[bucket] else { return Decision(allowed: true, hits: 0, retryAfterSeconds: 0) }
            let retryAfter = Int((count.startsIn + Double(limit.windowSeconds)).rounded(.up))
            return Decision(allowed: count.hits <= limit.limit, hits: count.hits, retryAfterSeconds: max(1, retryAfter))
        }
    }

    /// Counts one hit for each key and throws 429 with `Retry-After` when any is over its
    /// limit. Does nothing when rate limits are off.
    public func enforce(_ checks: [(RateLimit, String)]) async throws {
        guard settings.enabled else { return }
        let decisions = try await hits(checks)
        let retryAfter = decisions.filter { !$0.allowed }.map(\.retryAfterSeconds).max() ?? 0
        if retryAfter > 0 {
            logger.notice("rate limited", metadata: ["limits": "\(checks.map(\.0.name))"])
            for (check, decision) in zip(checks, decisions) where !decision.allowed {
                metrics?.count("suite_rate_limited_total", help: "Requests refused by a rate limit", labels: [("limit", check.0.name)])
            }
            throw AppError.tooManyRequests(retryAfterSeconds: retryAfter)
        }
    }

    /// Deletes windows that ended: run every five minutes by a `Periodic`.
    @discardableResult
    public func purge(olderThanSeconds seconds: Int = 86_400) async throws -> Int {
        let rows = try await database.sql(
            """
            WITH gone AS (
                DELETE FROM rate_limit_hits WHERE window_start < clock_timestamp() - make_interval(secs => \(Double(seconds)))
                RETURNING 1
            ) SELECT count(*)::integer FROM gone
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}
