public import Crypto
import Foundation
public import _CryptoExtras
import SuiteCore

/// One public key as a JWK (RFC 7517), the members a verifier needs and nothing private.
public struct PublicJWK: Codable, Sendable, Equatable {
    public var kty: String
    public var crv: String?
    public var x: String?
    public var n: String?
    public var e: String?
    public var kid: String?
    public var alg: String?
    public var use: String?

    public init(kty: String, crv: String? = nil, x: String? = nil, n: String? = nil, e: String? = nil,
                kid: String?, alg: String?, use: String?) {
        self.kty = kty
        self.crv = crv
        self.x = x
        self.n = n
        self.e = e
        self.kid = kid
        self.alg = alg
        self.use = use
    }
}

/// A JWK Set document (`{"keys":[…]}`), as served at `/internal/jwks.json` and
/// `/.well-known/jwks.json`.
public struct JWKS: Codable, Sendable, Equatable {
    public var keys: [PublicJWK]

    public init(keys: [PublicJWK]) {
        self.keys = keys
    }

    public static func publicJWK(ofEd25519 key: Curve25519.Signing.PublicKey, kid: String, use: String = "sig") -> PublicJWK {
        PublicJWK(kty: "OKP", crv: "Ed25519", x: Base64URL.encode(key.rawRepresentation), kid: kid, alg: "EdDSA", use: use)
    }

    public static func publicJWK(ofRSA key: _RSA.Signing.PrivateKey, kid: String) throws -> PublicJWK {
        let primitives = try key.publicKey.getKeyPrimitives()
        return PublicJWK(
            kty: "RSA", n: Base64URL.encode(primitives.modulus), e: Base64URL.encode(primitives.publicExponent),
            kid: kid, alg: "RS256", use: "sig")
    }

    /// RFC 7638 thumbprint, shortened to 16 characters: stable across restarts and
    /// replicas, so a `kid` never has to be configured by hand.
    public static func thumbprint(ofEd25519 key: Curve25519.Signing.PublicKey) -> String {
        let x = Base64URL.encode(key.rawRepresentation)
        return shortDigest(#"{"crv":"Ed25519","kty":"OKP","x":"\#(x)"}"#)
    }

    public static func thumbprint(ofRSA jwk: PublicJWK) -> String {
        shortDigest(#"{"e":"\#(jwk.e ?? "")","kty":"RSA","n":"\#(jwk.n ?? "")"}"#)
    }

    private static func shortDigest(_ members: String) -> String {
        String(Base64URL.encode(Array(SHA256.hash(data: Array(members.utf8)))).prefix(16))
    }

    /// The Ed25519 keys of a JWK Set, by `kid`. Keys of other types, or without a `kid`,
    /// are skipped: service tokens are EdDSA only and always name their key.
    public func ed25519Keys() -> [String: Curve25519.Signing.PublicKey] {
        var result: [String: Curve25519.Signing.PublicKey] = [:]
        for jwk in keys where jwk.kty == "OKP" && jwk.crv == "Ed25519" {
            guard let kid = jwk.kid, let x = jwk.x, let raw = Base64URL.decode(x),
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
            else { continue }
            result[kid] = key
        }
        return result
    }
}
