import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP

/// Who is blocked now, and unblocking.
struct BlockRoutes: Sendable {
    let vault: Vault

    func add(to router: Router<SuiteContext>) {
        router.get("tenants/:tenant_id/blocked-ips") { request, context in try await list(request, context, kind: .ip) }
        router.get("tenants/:tenant_id/blocked-users") { request, context in try await list(request, context, kind: .user) }
        router.delete("tenants/:tenant_id/blocked-ips/:subject") { request, context in try await unblock(request, context, kind: .ip) }
        router.delete("tenants/:tenant_id/blocked-users/:subject") { request, context in try await unblock(request, context, kind: .user) }
    }

    func list(_ request: Request, _ context: SuiteContext, kind: Lockout.Kind) async throws -> Response {
        var query = try Fields(query: request)
        let page = query.int("page", range: 0...1_000_000) ?? 0
        let size = query.int("page_size", range: 1...500) ?? 100
        let direction = query.int("sort_direction", range: -1...1) ?? -1
        try query.check()
        let tenant = try context.parameters.require("tenant_id")
        let principal = try await vault.authenticator.principal(request, context: context)
        try principal.require(.blocksRead, tenant: tenant)
        _ = try await vault.tenants.require(tenant)
        let sql = """
            SELECT l.subject, l.blocked_at, l.block_seconds, u.username, u.email, count(*) OVER ()
            FROM lockouts l LEFT JOIN users u ON l.kind = 'user' AND u.tenant_id = l.tenant_id AND u.user_id = l.subject
            WHERE l.tenant_id = $1 AND l.kind = $2 AND l.blocked_until > now()
            ORDER BY l.blocked_at \(direction == -1 ? "DESC" : "ASC"), l.subject LIMIT $3 OFFSET $4
            """
        var binds = PostgresBindings()
        binds.append(tenant)
        binds.append(kind.rawValue)
        binds.append(size + 1)
        binds.append(page * size)
        let rows = try await vault.database.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: vault.logger)
        var data: [JSONValue] = []
        var total = 0
        for try await (subject, at, seconds, username, email, count) in rows.decode((String, Date, Int, String?, String?, Int).self) {
            total = count
            var item: [String: JSONValue] = [
                "tenant_id": .string(tenant), "blocked_at": .string(Timestamp.millis(at)), "block_time_seconds": .number(Double(seconds)),
            ]
            switch kind {
            case .ip: item["ip"] = .string(subject)
            case .user:
                item["user_id"] = .string(subject)
                item["username"] = .string(username ?? "")
                item["email"] = .string(email ?? "")
            }
            data.append(.object(item))
        }
        return .json(["data": .array(Array(data.prefix(size))), "has_next": .bool(data.count > size), "total_count": .number(Double(total))])
    }

    func unblock(_ request: Request, _ context: SuiteContext, kind: Lockout.Kind) async throws -> Response {
        let tenant = try context.parameters.require("tenant_id")
        let subject = try context.parameters.require("subject")
        let principal = try await vault.authenticator.principal(request, context: context)
        try principal.require(.blocksWrite, tenant: tenant)
        let rows = try await vault.database.query(
            """
            UPDATE lockouts SET blocked_until = NULL, failures = 0, window_start = now()
            WHERE tenant_id = \(tenant) AND kind = \(kind.rawValue) AND subject = \(subject) AND blocked_until > now()
            RETURNING 1
            """, logger: vault.logger)
        for try await _ in rows.decode(Int.self) { return Response(status: .noContent) }
        throw AppError(status: .notFound, code: "not_found", detail: "Not blocked")
    }
}
