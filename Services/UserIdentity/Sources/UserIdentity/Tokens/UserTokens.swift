import Crypto
import Foundation
import SuiteCore
import SuiteSigning
import Synchronization

/// The claims of User&Identity's tokens, as the seed's `GET /me` shows them.
struct UserClaims: Codable, Sendable, Equatable {
    enum Audience: String, Codable, Sendable {
        case access = "access_token"
        case refresh = "refresh_token"
    }

    var sub: String
    var aud: Audience
    var jti: String
    var exp: Int
    var iat: Int
    var iss: String
    var user_id: String
    var roles: [String]
    /// Set on tokens made by `POST /users/{id}/impersonate`: the user being impersonated
    /// (who `sub` and `user_id` also name), so every API can tell and audit it.
    var impersonated_user_id: String?
    /// Who is impersonating: the admin or agent behind the token.
    var impersonator_id: String?
}

/// Signs and verifies user tokens by hand on swift-crypto: one algorithm, fixed at
/// start, is the only one accepted (no `alg` from the token is ever trusted), and the
/// verification path neither allocates an actor hop nor looks anything up.
struct UserTokens: Sendable {
    let settings: TokenSettings
    private let headerSegment: String
    private let algorithm: String
    private let kid: String?
    /// Tokens already verified, by their full text: a client sends the same access token
    /// for its whole life, and checking an Ed25519 signature costs far more than the rest
    /// of `GET /users/me`. The entry is only a memo of a pure function (same token, same
    /// answer on every replica); expiry is still checked on every use.
    private let verified = VerifiedTokens()

    init(settings: TokenSettings) {
        self.settings = settings
        switch settings.key {
        case .eddsa(let key):
            algorithm = "EdDSA"
            kid = key.kid
            headerSegment = Base64URL.encode(Array(#"{"alg":"EdDSA","kid":"\#(key.kid)","typ":"JWT"}"#.utf8))
        case .hs512:
            algorithm = "HS512"
            kid = nil
            headerSegment = Base64URL.encode(Array(#"{"alg":"HS512","typ":"JWT"}"#.utf8))
        }
    }

    /// The public keys, for `/.well-known/jwks.json` (none for HS512: its key is a secret).
    var jwks: JWKS {
        switch settings.key {
        case .eddsa(let key): JWKS(keys: [JWKS.publicJWK(ofEd25519: key.publicKey, kid: key.kid)])
        case .hs512: JWKS(keys: [])
        }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    func sign(_ claims: UserClaims) -> String {
        let payload = (try? Self.encoder.encode(claims)) ?? Data()
        let input = headerSegment + "." + Base64URL.encode(payload)
        let signature: [UInt8]
        switch settings.key {
        case .eddsa(let key): signature = Array((try? key.key.signature(for: Array(input.utf8))) ?? Data())
        case .hs512(let secret): signature = Array(HMAC<SHA512>.authenticationCode(for: Array(input.utf8), using: secret))
        }
        return input + "." + Base64URL.encode(signature)
    }

    /// The verified header and claims of `token`, or a 401 saying what is wrong. The
    /// audience is checked by the caller's wish: `nil` accepts both (`GET /me`).
    func verify(_ token: String, audience: UserClaims.Audience?, now: Int = Int(Date().timeIntervalSince1970))
        throws(AppError) -> (header: JSONValue, claims: UserClaims)
    {
        let (header, claims) = try verifySignature(token, now: now)
        if let audience, claims.aud != audience {
            throw Problem.unauthenticated(audience == .access ? "not an access token" : "not a refresh token")
        }
        guard claims.exp > now else { throw Problem.unauthenticated("token expired") }
        return (header, claims)
    }

    /// Everything about a token that does not change with time (signature, algorithm,
    /// key, issuer, claim shapes), memoised.
    private func verifySignature(_ token: String, now: Int) throws(AppError) -> (header: JSONValue, claims: UserClaims) {
        if let known = verified.get(token) {
            guard known.claims.iat <= now + 60 else { throw Problem.unauthenticated("invalid claims") }
            return known
        }
        let result = try verifyUncached(token, now: now)
        verified.put(token, result)
        return result
    }

    private func verifyUncached(_ token: String, now: Int) throws(AppError) -> (header: JSONValue, claims: UserClaims) {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count < 8192,
            let headerBytes = Base64URL.decode(Substring(parts[0])),
            let payloadBytes = Base64URL.decode(Substring(parts[1])),
            let signature = Base64URL.decode(Substring(parts[2])),
            let header = try? JSONDecoder().decode(JSONValue.self, from: headerBytes)
        else { throw Problem.unauthenticated("malformed token") }
        guard case .object(let members) = header, members["alg"] == .string(algorithm) else {
            throw Problem.unauthenticated("unexpected algorithm")
        }
        if let kid, members["kid"] != .string(kid) { throw Problem.unauthenticated("unknown key") }
        let input = token.utf8.prefix(parts[0].count + 1 + parts[1].count)
        let valid: Bool
        switch settings.key {
        case .eddsa(let key): valid = key.publicKey.isValidSignature(signature, for: Array(input))
        case .hs512(let secret): valid = HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: Array(input), using: secret)
        }
        guard valid else { throw Problem.unauthenticated("bad signature") }
        guard let claims = try? JSONDecoder().decode(UserClaims.self, from: payloadBytes) else {
            throw Problem.unauthenticated("malformed claims")
        }
        guard claims.iss == settings.issuer else { throw Problem.unauthenticated("wrong issuer") }
        guard claims.iat <= now + 60, claims.sub == claims.user_id, UUID(uuidString: claims.sub) != nil else {
            throw Problem.unauthenticated("invalid claims")
        }
        return (header, claims)
    }

    /// A new access and refresh token for `user`; the refresh token's `jti` is returned
    /// so the caller can record it in its family.
    func pair(for user: User, impersonator: UUID? = nil, now: Int = Int(Date().timeIntervalSince1970))
        -> (access: String, refresh: String, refreshID: UUID, refreshExpires: Int)
    {
        let id = user.id.uuidString.lowercased()
        var claims = UserClaims(
            sub: id, aud: .access, jti: UUID().uuidString.lowercased(), exp: now + settings.accessTTL, iat: now,
            iss: settings.issuer, user_id: id, roles: user.roles,
            impersonated_user_id: impersonator == nil ? nil : id, impersonator_id: impersonator?.uuidString.lowercased())
        let access = sign(claims)
        let refreshID = UUID()
        claims.aud = .refresh
        claims.jti = refreshID.uuidString.lowercased()
        claims.exp = now + settings.refreshTTL
        return (access, sign(claims), refreshID, claims.exp)
    }
}

/// The body of every login and refresh: the seed's three members (`jwt` and
/// `accessToken` are the same token, kept for older clients).
struct TokenPair: Codable, Sendable {
    var jwt: String
    var accessToken: String
    var refreshToken: String

    init(access: String, refresh: String) {
        jwt = access
        accessToken = access
        refreshToken = refresh
    }
}

/// A bounded memo of verified tokens. When full it starts over: simple, and a busy
/// service refills it with the tokens actually in use within a moment.
final class VerifiedTokens: Sendable {
    static let capacity = 10_000
    private let entries = Mutex<[String: (header: JSONValue, claims: UserClaims)]>([:])

    func get(_ token: String) -> (header: JSONValue, claims: UserClaims)? {
        entries.withLock { $0[token] }
    }

    func put(_ token: String, _ value: (header: JSONValue, claims: UserClaims)) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = value
        }
    }
}
