import Foundation
import Hummingbird
import SuiteCore
import SuiteHTTP

/// A user's own login sessions: listed, and ended one by one.
struct SessionRoutes: Sendable {
    let vault: Vault

    func add(to router: Router<VaultContext>) {
        // Who calls is known before any handler runs: an API key or a bearer token.
        let admin = router.administered(by: vault.authenticator)
        admin.get("sessions") { request, context in try await list(request, context) }
        admin.delete("sessions/:session_id") { request, context in try await delete(request, context) }
    }

    func list(_ request: Request, _ context: VaultContext) async throws -> Response {
        let principal = try context.principal()
        let (tenant, userID) = try principal.requireUser()
        var sessions: [JSONValue] = []
        for (id, created, issue, access, expires) in try await vault.sessions.live(tenant: tenant, userID: userID) {
            func block(_ text: String?) -> JSONValue { text.flatMap { try? JSONParser.parse(Array($0.utf8)) } ?? .null }
            sessions.append([
                "session_id": .string(id.uuidString.lowercased()), "user_id": .string(userID), "tenant_id": .string(tenant),
                "created": block(created), "expires_at": .string(Timestamp.millis(expires)), "token_issue": block(issue),
                "last_access": block(access),
            ])
        }
        return .json(["sessions": .array(sessions), "total": .number(Double(sessions.count))])
    }

    func delete(_ request: Request, _ context: VaultContext) async throws -> Response {
        let principal = try context.principal()
        let (tenant, userID) = try principal.requireUser()
        guard let id = UUID(uuidString: try context.parameters.require("session_id")),
            try await vault.sessions.revoke(id, tenant: tenant, userID: userID)
        else { throw VaultError.notFound("Session") }
        return Response(status: .noContent)
    }
}
