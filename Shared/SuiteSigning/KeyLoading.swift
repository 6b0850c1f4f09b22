public import Crypto
import Foundation
public import _CryptoExtras
public import SuiteCore

/// An Ed25519 signing key and the `kid` it is published under.
public struct Ed25519SigningKey: Sendable {
    public let key: Curve25519.Signing.PrivateKey
    public let kid: String

    public init(key: Curve25519.Signing.PrivateKey, kid: String? = nil) {
        self.key = key
        self.kid = kid ?? JWKS.thumbprint(ofEd25519: key.publicKey)
    }

    public var publicKey: Curve25519.Signing.PublicKey { key.publicKey }

    /// Reads a key as an operator writes it: a base64 or base64url 32-byte seed, sydent's
    /// `ed25519 0 <base64 seed>` line, or a PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).
    /// `kid:` may precede any of them (`kid:2026-11:<seed>`) to publish under a chosen id.
    public static func parse(_ text: String, variable: String) throws(ConfigurationError) -> Ed25519SigningKey {
        var text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var kid: String?
        if text.hasPrefix("kid:"), let end = text.dropFirst(4).firstIndex(of: ":") {
            kid = String(text[text.index(text.startIndex, offsetBy: 4)..<end])
            text = String(text[text.index(after: end)...])
        }
        if text.contains("-----BEGIN") {
            do {
                return Ed25519SigningKey(key: try Curve25519.Signing.PrivateKey(pemRepresentation: text), kid: kid)
            } catch {
                throw ConfigurationError(variable, "is not a readable Ed25519 PEM private key")
            }
        }
        let parts = text.split(separator: " ")
        if parts.count == 3, parts[0] == "ed25519" {
            // sydent's signing.key form: algorithm, version, seed.
            kid = kid ?? "ed25519:\(parts[1])"
            text = String(parts[2])
        }
        guard let seed = Base64URL.decode(text), seed.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        else {
            throw ConfigurationError(variable, "must be a base64 32-byte Ed25519 seed or a PEM private key")
        }
        return Ed25519SigningKey(key: key, kid: kid)
    }

    /// A new random key, for `keys generate` and tests.
    public static func generate(kid: String? = nil) -> Ed25519SigningKey {
        Ed25519SigningKey(key: Curve25519.Signing.PrivateKey(), kid: kid)
    }

    /// The seed, base64: the form `parse` reads back.
    public var seedBase64: String { key.rawRepresentation.base64EncodedString() }
}

/// An RS256 signing key (the OIDC vault needs one: discovery makes RS256 mandatory for
/// ID tokens).
public struct RSASigningKey: Sendable {
    public let key: _RSA.Signing.PrivateKey
    public let kid: String

    public static func parse(pem: String, kid: String? = nil, variable: String) throws(ConfigurationError) -> RSASigningKey {
        let key: _RSA.Signing.PrivateKey
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw ConfigurationError(variable, "is not a readable RSA PEM private key of at least 2048 bits")
        }
        guard key.keySizeInBits >= 2048 else {
            throw ConfigurationError(variable, "is not a readable RSA PEM private key of at least 2048 bits")
        }
        guard let jwk = try? JWKS.publicJWK(ofRSA: key, kid: "") else {
            throw ConfigurationError(variable, "is not a usable RSA key")
        }
        return RSASigningKey(key: key, kid: kid ?? JWKS.thumbprint(ofRSA: jwk))
    }

    public init(key: _RSA.Signing.PrivateKey, kid: String) {
        self.key = key
        self.kid = kid
    }
}
