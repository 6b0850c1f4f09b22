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

    func add(to router: Router<VaultContext>, access: RouteAccess) {
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
        guard try await vault.tenantExists(tenant) else { throw VaultError.notFound("Tenant") }
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(bytes: vault.discoveryDocument(tenant, atRoot: atRoot))))
    }

    func jwks(_ tenant: String) async throws -> Response {
        guard try await vault.tenantExists(tenant) else { throw VaultError.notFound("Tenant") }
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=60"],
            body: .init(byteBuffer: ByteBuffer(bytes: try await vault.keys.jwks())))
    }

    /// An error for the client, sent to its (verified) redirect URI as RFC 6749 §4.1.2.1 says.
    static func redirect(_ uri: String, _ parameters: [(String, String?)]) throws(AppError) -> Response {
        guard var components = URLComponents(string: uri) else { throw VaultError.invalidRequest("The redirect URI is not a valid URI") }
        var items = components.queryItems ?? []
        for (name, value) in parameters { if let value { items.append(URLQueryItem(name: name, value: value)) } }
        components.queryItems = items
        // `+` is a space to form decoders: encode it so a state survives the trip.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let location = components.string else { throw VaultError.invalidRequest("The redirect URI is not a valid URI") }
        return Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
    }

    func authorize(_ request: Request, _ context: VaultContext, tenant tenantID: String, atRoot: Bool = false) async throws -> Response {
        let query = try request.queryForm()
        func value(_ name: String) -> String? { query[name] }
        // Until the client and its redirect URI are known to match, nothing is redirected.
        guard let tenant = try await vault.tenants.find(tenantID) else { throw VaultError.notFound("Tenant") }
        guard let clientID = value("client_id"), let client = try await vault.clients.find(tenant: tenant.id, id: clientID) else {
            throw VaultError.invalidRequest("Unknown client_id")
        }
        guard let redirectURI = value("redirect_uri"), client.redirectURIs.contains(redirectURI) else {
            throw VaultError.invalidRequest("redirect_uri is not registered for this client")
        }
        let state = value("state")
        let issuer = vault.issuers.issuer(tenant.id, atRoot: atRoot)
        func fail(_ error: String, _ description: String) throws(AppError) -> Response {
            try Self.redirect(redirectURI, [("error", error), ("error_description", description), ("state", state), ("iss", issuer)])
        }
        if client.isLocked { return try fail("unauthorized_client", "The client is locked") }
        guard value("response_type") == "code" else { return try fail("unsupported_response_type", "Only the code flow is supported") }
        let scopes = (value("scope") ?? "openid").split(separator: " ").map(String.init)
        let allowed = client.allowedScopes
        if let refused = scopes.first(where: { !allowed.contains($0) }) { return try fail("invalid_scope", "Scope '\(refused)' is not allowed for this client") }
        let challenge = value("code_challenge")
        if let challenge {
            guard value("code_challenge_method") == "S256" else { return try fail("invalid_request", "code_challenge_method must be S256") }
            guard (43...128).contains(challenge.count) else { return try fail("invalid_request", "code_challenge is not an S256 challenge") }
        } else if client.type == .public {
            return try fail("invalid_request", "PKCE (S256) is required for public clients")
        }
        if let nonce = value("nonce"), nonce.count > 512 { return try fail("invalid_request", "nonce is too long") }
        if let state, state.count > 2048 { return try fail("invalid_request", "state is too long") }
        // Letters and digits only (190 bits): it travels in URLs and command lines, where a
        // leading "-" reads as an option.
        let authReqID = SecureRandom.string(count: 32)
        try await vault.authRequests.insert(
            .init(
                id: authReqID, tenant: tenant.id, client: client.id, redirectURI: redirectURI, scope: scopes.joined(separator: " "),
                state: state, nonce: value("nonce"), codeChallenge: challenge, issuer: issuer))
        let login = vault.settings.loginUIURL ?? (vault.publicURL + "/login")
        return try Self.redirect(login, [("auth_req_id", authReqID), ("client_id", client.id), ("tenant_id", tenant.id)])
    }

    /// After a successful authenticate: the single-use nonce turns the request into a
    /// code (60 s, single use) at the client's redirect URI.
    func resume(_ request: Request, _ context: VaultContext) async throws -> Response {
        var query = try Fields(query: request)
        let authReqField = query.string("auth_req_id", max: 64)
        let nonceField = query.string("nonce", max: 128)
        let (authReqID, nonce) = try query.checked(authReqField, nonceField)
        // A login flagged `need_verify` turns into a code only once its step-up succeeded
        // (`POST /auth/step-up`), which clears the flag.
        switch try await vault.authRequests.complete(authReqID, nonceHash: sha256(nonce)) {
        case .completed(let completed):
            let issuer = completed.issuer ?? vault.issuers.issuer(completed.tenant)
            let code = Base64URL.encode(SecureRandom.bytes(32))
            try await vault.authRequests.issueCode(
                hash: sha256(code), for: authReqID, completed, session: UUID(),
                created: CanonicalJSON.string(AccessInfo.block(request, context: context)), sessionSeconds: vault.settings.sessionTTL)
            return try Self.redirect(completed.redirectURI, [("code", code), ("state", completed.state), ("iss", issuer)])
        case .stepUpRequired:
            throw AppError(
                status: .forbidden, code: "step_up_required", detail: "This login needs a second factor first (need_verify): POST /auth/step-up")
        case .none:
            break
        }
        throw VaultError.badRequest("Unknown, expired or already used login")
    }
}
