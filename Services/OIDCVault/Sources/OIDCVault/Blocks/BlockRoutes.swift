import Foundation
import Hummingbird
import SuiteCore
import SuiteHTTP

/// Who is blocked now, and unblocking.
struct BlockRoutes: Sendable {
    let vault: Vault

    func add(to router: Router<VaultContext>) {
        // Who calls is known before any handler runs: an API key or a bearer token.
        let admin = router.administered(by: vault.authenticator)
        admin.get("tenants/:tenant_id/blocked-ips") { request, context in try await list(request, context, kind: .ip) }
        admin.get("tenants/:tenant_id/blocked-users") { request, context in try await list(request, context, kind: .user) }
        admin.delete("tenants/:tenant_id/blocked-ips/:subject") { request, context in try await unblock(request, context, kind: .ip) }
        admin.delete("tenants/:tenant_id/blocked-users/:subject") { request, context in try await unblock(request, context, kind: .user) }
    }

    func list(_ request: Request, _ context: VaultContext, kind: Lockout.Kind) async throws -> Response {
        var query = try Fields(query: request)
        let page = query.int("page", range: 0...1_000_000) ?? 0
        let size = query.int("page_size", range: 1...500) ?? 100
        let direction = query.int("sort_direction", range: -1...1) ?? -1
        try query.check()
        let tenant = try context.parameters.require("tenant_id")
        let principal = try context.principal()
        try principal.require(.blocksRead, tenant: tenant)
        _ = try await vault.tenants.require(tenant)
        let (blocks, total) = try await vault.lockout.blocked(
            tenant: tenant, kind: kind, offset: page * size, limit: size + 1, newestFirst: direction == -1)
        var data: [JSONValue] = []
        for (subject, at, seconds, username, email) in blocks {
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

    func unblock(_ request: Request, _ context: VaultContext, kind: Lockout.Kind) async throws -> Response {
        let tenant = try context.parameters.require("tenant_id")
        let subject = try context.parameters.require("subject")
        let principal = try context.principal()
        try principal.require(.blocksWrite, tenant: tenant)
        guard try await vault.lockout.unblock(tenant: tenant, kind: kind, subject: subject) else {
            throw VaultError.notBlocked
        }
        return Response(status: .noContent)
    }
}
