import Crypto
import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// Discovery, JWKS, the authorization endpoint and its continuation after the login.
struct AuthorizeRoutes: Sendable {
    let vault: Vault

    func add(to router: Router<SuiteContext>, access: RouteAccess) {
        // Discovery, keys and the browser's authorization requests: public by definition (OpenID Connect Discovery, RFC 6749 §3.1).
        access.open(router) {
            router.get(".well-known/openid-configuration") { _, _ in try await discovery(vault.settings.defaultTenant, atRoot: true) }
            router.get("tenants/:tenant_id/.well-known/openid-configuration") { _, context in
                try await discovery(try context.parameters.require("tenant_id"))
            }
            router.get(".well-known/jwks.json") { _, _ in try await jwks(vault.settings.defaultTenant) }
            router.get("tenants/:tenant_id/.well-known/jwks.json") { _, context in try await jwks(try context.parameters.require("tenant_id")) }
            router.get("authorize") { request, context in
                try await authorize(request, context, tenant: vault.settings.defaultTenant, atRoot: true)
            }
            router.get("tenants/:tenant_id/authorize") { request, context in
                try await authorize(request, context, tenant: try context.parameters.require("tenant_id"))
            }
            router.get("authorize/continue") { request, context in try await resume(request, context) }
        }
    }

    func discovery(_ tenant: String, atRoot: Bool = false) async throws -> Response {
        guard try await vault.tenantExists(tenant) else { throw AppError(status: .notFound, code: "not_found", detail: "Tenant not found") }
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(bytes: vault.discoveryDocument(tenant, atRoot: atRoot))))
    }

    func jwks(_ tenant: String) async throws -> Response {
        guard try await vault.tenantExists(tenant) else { throw AppError(status: .notFound, code: "not_found", detail: "Tenant not found") }
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=60"],
            body: .init(byteBuffer: ByteBuffer(bytes: try await vault.keys.jwks())))
    }

    /// An error for the client, sent to its (verified) redirect URI as RFC 6749 §4.1.2.1 says.
    static func redirect(_ uri: String, _ parameters: [(String, String?)]) -> Response {
        var components = URLComponents(string: uri)!
        var items = components.queryItems ?? []
        for (name, value) in parameters { if let value { items.append(URLQueryItem(name: name, value: value)) } }
        components.queryItems = items
        // `+` is a space to form decoders: encode it so a state survives the trip.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return Response(status: .found, headers: [.location: components.string!, .cacheControl: "no-store"])
    }

    func authorize(_ request: Request, _ context: SuiteContext, tenant tenantID: String, atRoot: Bool = false) async throws -> Response {
        let query = try request.queryForm()
        func value(_ name: String) -> String? { query[name] }
        // Until the client and its redirect URI are known to match, nothing is redirected.
        guard let tenant = try await vault.tenants.find(tenantID) else { throw AppError(status: .notFound, code: "not_found", detail: "Tenant not found") }
        guard let clientID = value("client_id"), let client = try await vault.clients.find(tenant: tenant.id, id: clientID) else {
            throw AppError(status: .badRequest, code: "invalid_request", detail: "Unknown client_id")
        }
        guard let redirectURI = value("redirect_uri"), client.redirectURIs.contains(redirectURI) else {
            throw AppError(status: .badRequest, code: "invalid_request", detail: "redirect_uri is not registered for this client")
        }
        let state = value("state")
        let issuer = vault.issuers.issuer(tenant.id, atRoot: atRoot)
        func fail(_ error: String, _ description: String) -> Response {
            Self.redirect(redirectURI, [("error", error), ("error_description", description), ("state", state), ("iss", issuer)])
        }
        if client.isLocked { return fail("unauthorized_client", "The client is locked") }
        guard value("response_type") == "code" else { return fail("unsupported_response_type", "Only the code flow is supported") }
        let scopes = (value("scope") ?? "openid").split(separator: " ").map(String.init)
        let allowed = client.allowedScopes
        if let refused = scopes.first(where: { !allowed.contains($0) }) { return fail("invalid_scope", "Scope '\(refused)' is not allowed for this client") }
        let challenge = value("code_challenge")
        if let challenge {
            guard value("code_challenge_method") == "S256" else { return fail("invalid_request", "code_challenge_method must be S256") }
            guard (43...128).contains(challenge.count) else { return fail("invalid_request", "code_challenge is not an S256 challenge") }
        } else if client.type == .public {
            return fail("invalid_request", "PKCE (S256) is required for public clients")
        }
        if let nonce = value("nonce"), nonce.count > 512 { return fail("invalid_request", "nonce is too long") }
        if let state, state.count > 2048 { return fail("invalid_request", "state is too long") }
        // Letters and digits only (190 bits): it travels in URLs and command lines, where a
        // leading "-" reads as an option.
        let authReqID = SecureRandom.string(count: 32)
        try await vault.database.query(
            """
            INSERT INTO auth_requests (auth_req_id, tenant_id, client_id, redirect_uri, scope, state, nonce, code_challenge, expires_at, issuer)
            VALUES (\(authReqID), \(tenant.id), \(client.id), \(redirectURI), \(scopes.joined(separator: " ")), \(state), \(value("nonce")),
                    \(challenge), now() + interval '10 minutes', \(issuer))
            """, logger: vault.logger)
        let login = vault.settings.loginUIURL ?? (vault.publicURL + "/login")
        return Self.redirect(login, [("auth_req_id", authReqID), ("client_id", client.id), ("tenant_id", tenant.id)])
    }

    /// After a successful authenticate: the single-use nonce turns the request into a
    /// code (60 s, single use) at the client's redirect URI.
    func resume(_ request: Request, _ context: SuiteContext) async throws -> Response {
        var query = try Fields(query: request)
        let authReqID = query.string("auth_req_id", max: 64)
        let nonce = query.string("nonce", max: 128)
        try query.check()
        let hash = ByteBuffer(bytes: sha256(nonce!))
        // A login flagged `need_verify` turns into a code only once its step-up succeeded
        // (`POST /auth/step-up`), which clears the flag.
        let rows = try await vault.database.query(
            """
            WITH found AS (
                SELECT auth_req_id, need_verify FROM auth_requests
                WHERE auth_req_id = \(authReqID!) AND login_nonce_hash = \(hash) AND completed_at IS NULL AND expires_at > now()
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
            """, logger: vault.logger)
        for try await row in rows.decode((Bool, String?, String?, String?, String?, String?, String?, String?, String?, Date?, String?).self) {
            guard row.0, let tenant = row.1, let client = row.2, let user = row.3, let redirectURI = row.4, let scope = row.5,
                let authTime = row.9
            else {
                throw AppError(
                    status: .forbidden, code: "step_up_required",
                    detail: "This login needs a second factor first (need_verify): POST /auth/step-up")
            }
            let (state, oidcNonce, challenge) = (row.6, row.7, row.8)
            let issuer = row.10 ?? vault.issuers.issuer(tenant)
            let session = UUID()
            let code = Base64URL.encode(SecureRandom.bytes(32))
            let created = CanonicalJSON.string(AccessInfo.block(request, context: context))
            try await vault.database.withTransaction(logger: vault.logger) { connection in
                try await connection.query(
                    """
                    INSERT INTO sessions (session_id, tenant_id, user_id, client_id, auth_time, created, last_access, expires_at)
                    VALUES (\(session), \(tenant), \(user), \(client), \(authTime), \(created)::jsonb, \(created)::jsonb,
                            now() + make_interval(secs => \(Double(vault.settings.sessionTTL))))
                    """, logger: vault.logger)
                try await connection.query(
                    """
                    INSERT INTO authorization_codes (code_hash, auth_req_id, tenant_id, client_id, user_id, session_id, redirect_uri, scope,
                                                     nonce, code_challenge, auth_time, expires_at)
                    VALUES (\(ByteBuffer(bytes: sha256(code))), \(authReqID!), \(tenant), \(client), \(user),
                            \(session), \(redirectURI), \(scope), \(oidcNonce), \(challenge), \(authTime), now() + interval '60 seconds')
                    """, logger: vault.logger)
            }
            return Self.redirect(redirectURI, [("code", code), ("state", state), ("iss", issuer)])
        }
        throw AppError(status: .badRequest, code: "bad_request", detail: "Unknown, expired or already used login")
    }
}
