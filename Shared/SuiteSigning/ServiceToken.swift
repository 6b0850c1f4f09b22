import Crypto
public import Foundation
import SuiteCore

/// The claims of a service token: who calls (`iss`, `sub = service:<iss>`), whom
/// (`aud`), for what (`scope`, space-separated), and for how long (`iat`, `exp`).
public struct ServiceTokenClaims: Codable, Sendable, Equatable {
    public var iss: String
    public var aud: String
    public var sub: String
    public var scope: String
    public var iat: Int
    public var exp: Int
    public var nbf: Int?
    public var jti: String

    public init(iss: String, aud: String, sub: String, scope: String, iat: Int, exp: Int, nbf: Int? = nil, jti: String) {
        self.iss = iss
        self.aud = aud
        self.sub = sub
        self.scope = scope
        self.iat = iat
        self.exp = exp
        self.nbf = nbf
        self.jti = jti
    }
}

/// A verified caller of an internal route.
public struct ServiceCaller: Sendable, Equatable {
    public let service: String
    public let scopes: Set<String>
    public let tokenID: String
    public let expiresAt: Int

    public func has(scope: String) -> Bool { scopes.contains(scope) }
}

/// Mints the service tokens this service sends to its peers. A token is reused for
/// half its lifetime, so a busy caller signs about once every 30 s per peer and scope
/// instead of once per request.
public final class ServiceTokenSigner: Sendable {
    public let issuer: String
    public let signingKey: Ed25519SigningKey
    public let lifetime: Int
    private let jws: CompactJWS
    private let cache = ReadMostly<[String: (token: String, renewAt: Int)]>([:])

    public init(issuer: String, signingKey: Ed25519SigningKey, lifetimeSeconds: Int = 60) async {
        self.issuer = issuer
        self.signingKey = signingKey
        self.lifetime = lifetimeSeconds
        self.jws = CompactJWS(key: .eddsa(signingKey))
    }

    /// A token for calling `audience` with `scope`, from the cache while it is fresh.
    public func token(audience: String, scope: String, now: Date = Date()) async throws -> String {
        let key = audience + " " + scope
        let seconds = Int(now.timeIntervalSince1970)
        if let cached = cache.read({ $0[key] }), cached.renewAt > seconds { return cached.token }
        let token = try await mint(audience: audience, scope: scope, issuedAt: seconds)
        cache.write { $0[key] = (token, seconds + lifetime / 2) }
        return token
    }

    /// A new token. Tests use `issuedAt`, `lifetime` and `issuer` to make bad ones.
    public func mint(
        audience: String, scope: String, issuedAt: Int, lifetime: Int? = nil, issuer: String? = nil
    ) async throws -> String {
        let issuer = issuer ?? self.issuer
        let claims = ServiceTokenClaims(
            iss: issuer, aud: audience, sub: "service:\(issuer)", scope: scope,
            iat: issuedAt, exp: issuedAt + (lifetime ?? self.lifetime), jti: UUID().uuidString.lowercased())
        return jws.sign(payload: try JSONEncoder().encode(claims))
    }

    /// The JWK Set peers fetch to verify this service's tokens.
    public var jwks: JWKS {
        JWKS(keys: [JWKS.publicJWK(ofEd25519: signingKey.publicKey, kid: signingKey.kid)])
    }
}
