import Foundation
import SuiteCore
import SuiteSigning

/// The claims of User&Identity's tokens, as the seed's `GET /me` shows them.
public struct UserClaims: Codable, Sendable, Equatable {
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

/// Signs and verifies user tokens: the suite's `CompactJWS` with the seed's claims.
struct UserTokens: Sendable {
    let settings: TokenSettings
    private let jws: CompactJWS
    /// Verified tokens and their decoded claims (see `TokenMemo`).
    private let verified = TokenMemo<(header: JSONValue, claims: UserClaims)>()

    init(settings: TokenSettings) {
        self.settings = settings
        switch settings.key {
        case .eddsa(let key): jws = CompactJWS(key: .eddsa(key))
        case .hs512(let secret): jws = CompactJWS(key: .hs512(secret))
        }
    }

    /// The public keys, for `/.well-known/jwks.json` (none for HS512: its key is a secret).
    var jwks: JWKS { jws.jwks }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    func sign(_ claims: UserClaims) -> String {
        jws.sign(payload: (try? Self.encoder.encode(claims)) ?? Data())
    }

    /// The verified header and claims of `token`, or a 401 saying what is wrong. The
    /// audience is checked by the caller's wish: `nil` accepts both (`GET /me`).
    func verify(_ token: String, audience: UserClaims.Audience?, now: Int = Int(Date().timeIntervalSince1970))
        throws(AppError) -> (header: JSONValue, claims: UserClaims)
    {
        let (header, claims) = try verifyOnce(token)
        guard claims.iat <= now + 60 else { throw Problem.unauthenticated("invalid claims") }
        if let audience, claims.aud != audience {
            throw Problem.unauthenticated(audience == .access ? "not an access token" : "not a refresh token")
        }
        guard claims.exp > now else { throw Problem.unauthenticated("token expired") }
        return (header, claims)
    }

    /// Everything about a token that does not change with time, memoised.
    private func verifyOnce(_ token: String) throws(AppError) -> (header: JSONValue, claims: UserClaims) {
        if let known = verified.get(token) { return known }
        let header: JSONValue
        let payload: Data
        do {
            (header, payload) = try jws.verify(token)
        } catch {
            switch error {
            case .malformed: throw Problem.unauthenticated("malformed token")
            case .wrongAlgorithm: throw Problem.unauthenticated("unexpected algorithm")
            case .unknownKey: throw Problem.unauthenticated("unknown key")
            case .badSignature: throw Problem.unauthenticated("bad signature")
            }
        }
        guard let claims = try? JSONDecoder().decode(UserClaims.self, from: payload) else {
            throw Problem.unauthenticated("malformed claims")
        }
        guard claims.iss == settings.issuer else { throw Problem.unauthenticated("wrong issuer") }
        guard claims.sub == claims.user_id, UUID(uuidString: claims.sub) != nil else {
            throw Problem.unauthenticated("invalid claims")
        }
        verified.put(token, (header, claims))
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
