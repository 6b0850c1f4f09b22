import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of authorization requests and the codes they turn into.
struct AuthRequestStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    struct Pending: Sendable {
        let id: String
        let tenant: String
        let client: String
        let redirectURI: String
        let scope: String
        let state: String?
        let nonce: String?
        let codeChallenge: String?
        let issuer: String
    }

    /// Keeps the request for ten minutes, until a login completes it.
    func insert(_ request: Pending) async throws {
        try await database.sql(
            """
            INSERT INTO auth_requests (auth_req_id, tenant_id, client_id, redirect_uri, scope, state, nonce, code_challenge, expires_at, issuer)
            VALUES (\(request.id), \(request.tenant), \(request.client), \(request.redirectURI), \(request.scope), \(request.state),
                    \(request.nonce), \(request.codeChallenge), now() + interval '10 minutes', \(request.issuer))
            """, logger: logger)
    }

    /// A logged-in request, completed: what its code is issued for.
    struct Completed: Sendable {
        let tenant: String
        let client: String
        let user: String
        let redirectURI: String
        let scope: String
        let state: String?
        let nonce: String?
        let codeChallenge: String?
        let authTime: Date
        let issuer: String?
    }

    enum Completion {
        case completed(Completed)
        /// The login was flagged `need_verify` and its step-up has not succeeded yet.
        case stepUpRequired
        /// Unknown, expired, not logged in, already completed, or the wrong nonce.
        case none
    }

    /// Completes the request whose login nonce has this hash, once (the row is locked).
    func complete(_ id: String, nonceHash: [UInt8]) async throws -> Completion {
        let rows = try await database.sql(
            """
            WITH found AS (
                SELECT auth_req_id, need_verify FROM auth_requests
                WHERE auth_req_id = \(id) AND login_nonce_hash = \(ByteBuffer(bytes: nonceHash)) AND completed_at IS NULL AND expires_at > now()
                    AND user_id IS NOT NULL
                FOR UPDATE
            ), completed AS (
                UPDATE auth_requests a SET completed_at = now() FROM found
                WHERE a.auth_req_id = found.auth_req_id AND NOT found.need_verify
                RETURNING a.tenant_id, a.client_id, a.user_id, a.redirect_uri, a.scope, a.state, a.nonce, a.code_challenge,
                          a.authenticated_at, a.issuer
            )
            SELECT true, c.* FROM completed c
            UNION ALL SELECT false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM found WHERE found.need_verify
            """, logger: logger)
        for try await row in rows.decode((Bool, String?, String?, String?, String?, String?, String?, String?, String?, Date?, String?).self) {
            guard row.0, let tenant = row.1, let client = row.2, let user = row.3, let redirectURI = row.4, let scope = row.5,
                let authTime = row.9
            else { return .stepUpRequired }
            return .completed(
                Completed(
                    tenant: tenant, client: client, user: user, redirectURI: redirectURI, scope: scope, state: row.6, nonce: row.7,
                    codeChallenge: row.8, authTime: authTime, issuer: row.10))
        }
        return .none
    }

    /// Opens the session the login started and keeps the code's hash (60 s, single use),
    /// in one transaction.
    func issueCode(
        hash: [UInt8], for request: String, _ completed: Completed, session: UUID, created: String, sessionSeconds: Int
    ) async throws {
        try await database.withRequestTransaction(logger: logger) { connection in
            try await connection.sql(
                """
                INSERT INTO sessions (session_id, tenant_id, user_id, client_id, auth_time, created, last_access, expires_at)
                VALUES (\(session), \(completed.tenant), \(completed.user), \(completed.client), \(completed.authTime),
                        \(created)::jsonb, \(created)::jsonb, now() + make_interval(secs => \(Double(sessionSeconds))))
                """, logger: logger)
            try await connection.sql(
                """
                INSERT INTO authorization_codes (code_hash, auth_req_id, tenant_id, client_id, user_id, session_id, redirect_uri, scope,
                                                 nonce, code_challenge, auth_time, expires_at)
                VALUES (\(ByteBuffer(bytes: hash)), \(request), \(completed.tenant), \(completed.client), \(completed.user),
                        \(session), \(completed.redirectURI), \(completed.scope), \(completed.nonce), \(completed.codeChallenge),
                        \(completed.authTime), now() + interval '60 seconds')
                """, logger: logger)
        }
    }
}
