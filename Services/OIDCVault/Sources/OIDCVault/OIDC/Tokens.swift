import Crypto
import Foundation
import Logging
import PostgresNIO
import SuiteCore
import SuiteSigning

/// Where each tenant's issuer lives: `{PUBLIC_URL}/tenants/{tenant}`.
struct Issuers: Sendable {
    let publicURL: String

    func issuer(_ tenant: String) -> String { publicURL + "/tenants/" + tenant }
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
/// issuer, expiry, and that neither the token nor its session was revoked.
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
        guard verified.header["typ"]?.stringValue == type, let tenant = verified.claims["tenant_id"]?.stringValue,
            verified.claims["iss"]?.stringValue == issuers.issuer(tenant), let exp = verified.claims["exp"]?.intValue
        else { throw Self.invalid() }
        if !allowExpired, exp <= Int(Date().timeIntervalSince1970) { throw Self.invalid("Token expired") }
        return verified.claims
    }

    func accessToken(_ token: String) async throws -> AccessToken {
        let claims = try await claims(token)
        let access = try Self.access(claims)
        let rows = try await database.query(
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
        var client: Client
        var userID: String?
        var username: String?
        var email: String?
        var emailVerified: Bool = false
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
            "iss": .string(issuers.issuer(subject.tenant)), "sub": .string(subject.userID ?? subject.client.id),
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
            "iss": .string(issuers.issuer(subject.tenant)), "sub": .string(userID), "aud": .string(subject.client.id),
            "azp": .string(subject.client.id), "iat": .number(Double(now)), "exp": .number(Double(now + settings.idTokenTTL)),
            "at_hash": .string(Base64URL.encode(digest.prefix(digest.count / 2))), "tenant_id": .string(subject.tenant),
        ]
        if let nonce = subject.nonce { claims["nonce"] = .string(nonce) }
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
