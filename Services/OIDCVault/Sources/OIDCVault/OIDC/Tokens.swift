import Crypto
import Foundation
import Logging
import PostgresNIO
import SuiteCore
import SuiteSigning

/// Where each tenant's issuer lives: `{PUBLIC_URL}/tenants/{tenant}`. The default tenant
/// is also served at the root, whose discovery document names `{PUBLIC_URL}` as its
/// issuer (OpenID Connect Discovery §4.3: the issuer is the URL the document is served
/// under, and strict relying parties compare them), so it answers to both.
struct Issuers: Sendable {
    let publicURL: String
    let defaultTenant: String

    func issuer(_ tenant: String) -> String { publicURL + "/tenants/" + tenant }

    /// The root issuer: the default tenant as the root discovery presents it.
    var root: String { publicURL }

    /// The issuer a flow started at the root (`root`) or under the tenant's path speaks as.
    func issuer(_ tenant: String, atRoot: Bool) -> String { atRoot && tenant == defaultTenant ? root : issuer(tenant) }

    func isIssuer(_ iss: String, of tenant: String) -> Bool {
        iss == issuer(tenant) || (tenant == defaultTenant && iss == root)
    }
}

/// What an access token we issued says, once verified.
struct AccessToken: Sendable {
    let tenant: String
    let userID: String?
    let clientID: String
    let scope: String
    let jti: String
    let expiresAt: Int
    let sessionID: String?
    let claims: JSONValue

    var scopes: Set<Substring> { Set(scope.split(separator: " ")) }
}

/// Checks bearer access tokens: our signature (the key's algorithm), `typ` at+jwt,
/// issuer, audience, `iat`/`nbf`/`exp`, and that neither the token nor its session was
/// revoked (a session is revoked with the grant it came from, e.g. on code or refresh
/// token reuse, so every access token of that grant dies with it).
struct TokenVerifier: Sendable {
    let keys: KeyRing
    let issuers: Issuers
    let database: PostgresClient
    let logger: Logger

    static func invalid(_ detail: String = "Invalid token") -> AppError {
        AppError(
            status: .unauthorized, code: "invalid_token", detail: detail,
            headers: [.wwwAuthenticate: #"Bearer error="invalid_token""#])
    }

    /// The token's claims when it is one of ours and unexpired, without the revocation
    /// check (introspection and logout make their own).
    func claims(_ token: String, type: String = "at+jwt", allowExpired: Bool = false) async throws -> JSONValue {
        let verified: (header: JSONValue, claims: JSONValue)
        do {
            verified = try await keys.verify(token)
        } catch is KeyRing.VerifyFailure {
            throw Self.invalid()
        }
        let claims = verified.claims
        guard verified.header["typ"]?.stringValue == type, let tenant = claims["tenant_id"]?.stringValue,
            let iss = claims["iss"]?.stringValue, issuers.isIssuer(iss, of: tenant), let exp = claims["exp"]?.intValue,
            Self.audiences(claims["aud"]).contains(where: { !$0.isEmpty })
        else { throw Self.invalid() }
        let now = Int(Date().timeIntervalSince1970)
        if !allowExpired, exp <= now { throw Self.invalid("Token expired") }
        // Clocks drift a little between replicas; a token from further in the future was
        // not made by us for now.
        guard let iat = claims["iat"]?.intValue, iat <= now + Self.leewaySeconds else { throw Self.invalid("Token issued in the future") }
        if let nbf = claims["nbf"] {
            guard let notBefore = nbf.intValue, notBefore <= now + Self.leewaySeconds else { throw Self.invalid("Token not yet valid") }
        }
        if type == "at+jwt" {
            // RFC 9068: our access tokens are addressed to the client they were issued to.
            guard let client = claims["client_id"]?.stringValue, Self.audiences(claims["aud"]).contains(client) else {
                throw Self.invalid()
            }
        }
        return claims
    }

    static let leewaySeconds = 30

    /// `aud` as a list: a string or an array of strings (RFC 7519 §4.1.3); nothing else.
    static func audiences(_ value: JSONValue?) -> [String] {
        switch value {
        case .string(let one)?: [one]
        case .array(let many)?: many.compactMap(\.stringValue)
        default: []
        }
    }

    /// A bearer access token of ours, unrevoked; when `tenant` is given, one of that
    /// tenant's (a token is no key to another tenant's door).
    func accessToken(_ token: String, tenant expected: String? = nil) async throws -> AccessToken {
        let claims = try await claims(token)
        let access = try Self.access(claims)
        if let expected, access.tenant != expected { throw Self.invalid("Token of another issuer") }
        let rows = try await database.sql(
            """
            SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = \(access.jti))
                OR EXISTS (SELECT 1 FROM sessions WHERE session_id::text = \(access.sessionID ?? "") AND revoked_at IS NOT NULL)
            """, logger: logger)
        for try await revoked in rows.decode(Bool.self) where revoked { throw Self.invalid("Token revoked") }
        return access
    }

    static func access(_ claims: JSONValue) throws(AppError) -> AccessToken {
        guard let tenant = claims["tenant_id"]?.stringValue, let client = claims["client_id"]?.stringValue,
            let jti = claims["jti"]?.stringValue, let exp = claims["exp"]?.intValue
        else { throw invalid() }
        let sub = claims["sub"]?.stringValue
        return AccessToken(
            tenant: tenant, userID: sub == client && claims["sid"] == nil ? nil : sub, clientID: client,
            scope: claims["scope"]?.stringValue ?? "", jti: jti, expiresAt: exp, sessionID: claims["sid"]?.stringValue,
            claims: claims)
    }
}

/// Makes the tokens a grant returns.
struct TokenIssuer: Sendable {
    let keys: KeyRing
    let issuers: Issuers
    let settings: VaultSettings

    struct Subject: Sendable {
        var tenant: String
        /// The issuer the client knows: the tenant's, or the root's for the default tenant
        /// reached at the root (nil: the tenant's).
        var issuer: String? = nil
        var client: Client
        var userID: String?
        var username: String?
        var email: String?
        var emailVerified: Bool = false
        var externalID: String? = nil
        var scope: String
        var sessionID: String?
        var authTime: Int?
        var nonce: String?
        /// RFC 8693: the party acting for the subject.
        var actor: String?
    }

    /// A signed access token (RFC 9068 profile).
    func accessToken(_ subject: Subject, now: Int = Int(Date().timeIntervalSince1970)) async throws -> (token: String, expiresIn: Int) {
        var claims: [String: JSONValue] = [
            "iss": .string(subject.issuer ?? issuers.issuer(subject.tenant)), "sub": .string(subject.userID ?? subject.client.id),
            "aud": .string(subject.client.id), "client_id": .string(subject.client.id), "tenant_id": .string(subject.tenant),
            "scope": .string(subject.scope), "iat": .number(Double(now)), "exp": .number(Double(now + settings.accessTokenTTL)),
            "jti": .string(Base64URL.encode(SecureRandom.bytes(16))),
        ]
        if let sid = subject.sessionID { claims["sid"] = .string(sid) }
        if let authTime = subject.authTime { claims["auth_time"] = .number(Double(authTime)) }
        if let actor = subject.actor { claims["act"] = ["sub": .string(actor)] }
        let token = try await keys.sign(.object(claims), algorithm: subject.client.signingAlgorithm, type: "at+jwt")
        return (token, settings.accessTokenTTL)
    }

    /// An ID token for `accessToken`: `nonce`, `auth_time`, `sid`, `at_hash` (the left
    /// half of the access token's hash, with the hash of the signing algorithm).
    func idToken(_ subject: Subject, accessToken: String, now: Int = Int(Date().timeIntervalSince1970)) async throws -> String {
        guard let userID = subject.userID else { throw AppError.internalError }
        let digest: [UInt8]
        switch subject.client.signingAlgorithm {
        case .rs256: digest = sha256(accessToken)
        // EdDSA with Ed25519 uses SHA-512 for at_hash (OpenID Connect, as implementations agree).
        case .eddsa: digest = Array(SHA512.hash(data: Array(accessToken.utf8)))
        }
        var claims: [String: JSONValue] = [
            "iss": .string(subject.issuer ?? issuers.issuer(subject.tenant)), "sub": .string(userID), "aud": .string(subject.client.id),
            "azp": .string(subject.client.id), "iat": .number(Double(now)), "exp": .number(Double(now + settings.idTokenTTL)),
            "at_hash": .string(Base64URL.encode(digest.prefix(digest.count / 2))), "tenant_id": .string(subject.tenant),
        ]
        if let nonce = subject.nonce { claims["nonce"] = .string(nonce) }
        if let external = subject.externalID { claims["external_id"] = .string(external) }
        if let authTime = subject.authTime { claims["auth_time"] = .number(Double(authTime)) }
        if let sid = subject.sessionID { claims["sid"] = .string(sid) }
        let scopes = Set(subject.scope.split(separator: " "))
        if scopes.contains("profile"), let username = subject.username { claims["preferred_username"] = .string(username) }
        if scopes.contains("email"), let email = subject.email {
            claims["email"] = .string(email)
            claims["email_verified"] = .bool(subject.emailVerified)
        }
        return try await keys.sign(.object(claims), algorithm: subject.client.signingAlgorithm)
    }
}
