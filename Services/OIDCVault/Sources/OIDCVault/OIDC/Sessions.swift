import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SuiteCore
import SuiteHTTP

/// Login sessions: made when an authorization completes, listed and revoked by their
/// user; revoking one revokes its refresh tokens and the access tokens that name it.
struct SessionStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    func revokeAll(tenant: String, userID: String) async throws {
        try await database.withTransaction(logger: logger) { connection in
            try await connection.query(
                "UPDATE sessions SET revoked_at = now() WHERE tenant_id = \(tenant) AND user_id = \(userID) AND revoked_at IS NULL",
                logger: logger)
            try await connection.query(
                "UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = \(tenant) AND user_id = \(userID) AND revoked_at IS NULL",
                logger: logger)
        }
    }

    /// Ends the session a spent authorization code opened, with its refresh tokens: the
    /// code was presented twice, so its grant is taken as stolen, and every access token
    /// naming that session fails its next check.
    func revokeGrant(ofCode codeHash: ByteBuffer) async throws {
        try await database.query(
            """
            WITH ended AS (
                UPDATE sessions SET revoked_at = now()
                WHERE session_id IN (SELECT session_id FROM authorization_codes WHERE code_hash = \(codeHash) AND consumed_at IS NOT NULL)
                RETURNING session_id
            )
            UPDATE refresh_tokens SET revoked_at = now() WHERE session_id IN (SELECT session_id FROM ended) AND revoked_at IS NULL
            """, logger: logger)
    }

    /// Ends a refresh token family and the session it belongs to (a spent token came back).
    func revokeGrant(family: UUID) async throws {
        try await database.query(
            """
            WITH family AS (
                UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = \(family) AND revoked_at IS NULL RETURNING session_id
            )
            UPDATE sessions SET revoked_at = now()
            WHERE session_id IN (SELECT session_id FROM refresh_tokens WHERE family_id = \(family)) AND revoked_at IS NULL
            """, logger: logger)
    }

    /// Revokes one session; false when it is not there (or not the user's).
    func revoke(_ id: UUID, tenant: String, userID: String?) async throws -> Bool {
        try await database.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE sessions SET revoked_at = now()
                WHERE session_id = \(id) AND tenant_id = \(tenant) AND (\(userID)::text IS NULL OR user_id = \(userID))
                    AND revoked_at IS NULL
                RETURNING 1
                """, logger: logger)
            var found = false
            for try await _ in rows.decode(Int.self) { found = true }
            if found {
                try await connection.query(
                    "UPDATE refresh_tokens SET revoked_at = now() WHERE session_id = \(id) AND revoked_at IS NULL", logger: logger)
            }
            return found
        }
    }
}

struct SessionRoutes: Sendable {
    let vault: Vault

    func add(to router: Router<SuiteContext>) {
        router.get("sessions") { request, context in try await list(request, context) }
        router.delete("sessions/:session_id") { request, context in try await delete(request, context) }
    }

    func list(_ request: Request, _ context: SuiteContext) async throws -> Response {
        let principal = try await vault.authenticator.principal(request, context: context)
        let (tenant, userID) = try principal.requireUser()
        let rows = try await vault.database.query(
            """
            SELECT session_id, created::text, token_issue::text, last_access::text, expires_at FROM sessions
            WHERE tenant_id = \(tenant) AND user_id = \(userID) AND revoked_at IS NULL AND expires_at > now()
            ORDER BY auth_time DESC LIMIT 100
            """, logger: vault.logger)
        var sessions: [JSONValue] = []
        for try await (id, created, issue, access, expires) in rows.decode((UUID, String, String?, String?, Date).self) {
            func block(_ text: String?) -> JSONValue { text.flatMap { try? JSONParser.parse(Array($0.utf8)) } ?? .null }
            sessions.append([
                "session_id": .string(id.uuidString.lowercased()), "user_id": .string(userID), "tenant_id": .string(tenant),
                "created": block(created), "expires_at": .string(Timestamp.millis(expires)), "token_issue": block(issue),
                "last_access": block(access),
            ])
        }
        return .json(["sessions": .array(sessions), "total": .number(Double(sessions.count))])
    }

    func delete(_ request: Request, _ context: SuiteContext) async throws -> Response {
        let principal = try await vault.authenticator.principal(request, context: context)
        let (tenant, userID) = try principal.requireUser()
        guard let id = UUID(uuidString: try context.parameters.require("session_id")),
            try await vault.sessions.revoke(id, tenant: tenant, userID: userID)
        else { throw AppError(status: .notFound, code: "not_found", detail: "Session not found") }
        return Response(status: .noContent)
    }
}
