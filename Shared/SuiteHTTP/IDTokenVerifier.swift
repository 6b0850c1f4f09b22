public import AsyncHTTPClient
import Crypto
import _CryptoExtras
import Foundation
import NIOCore
import NIOConcurrencyHelpers
public import SuiteCore
import SuiteSigning

/// Verifies OpenID Connect ID tokens of a third party (Google, Apple, an OIDC vault
/// tenant) against its published JWK Set: the algorithm pinned to the key's (RS256 for an
/// RSA key, EdDSA for an Ed25519 one) and to the ones allowed, the signature by
/// a key of the set (fetched when first needed, again when a token names a key the set
/// does not have, at most every 30 s), and `iss`, `aud`, `exp`, `iat`, and `nonce` when
/// asked for.
public final class IDTokenVerifier: Sendable {
    public let jwksURL: String
    public let issuers: Set<String>
    public let audiences: Set<String>
    let http: HTTPClient
    let timeout: Duration
    public let algorithms: Set<String>
    let keys = NIOLockedValueBox<(keys: [String: Key], fetched: Date?)>(([:], nil))

    enum Key {
        case rsa(_RSA.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)

        var algorithm: String {
            switch self {
            case .rsa: "RS256"
            case .ed25519: "EdDSA"
            }
        }

        func isValid(_ signature: Data, for input: Data) -> Bool {
            switch self {
            case .rsa(let key):
                key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: input, padding: .insecurePKCS1v1_5)
            case .ed25519(let key): key.isValidSignature(signature, for: input)
            }
        }
    }

    public init(
        jwksURL: String, issuers: Set<String>, audiences: Set<String>, algorithms: Set<String> = ["RS256"], http: HTTPClient,
        timeout: Duration = .seconds(5)
    ) {
        self.algorithms = algorithms
        self.jwksURL = jwksURL
        self.issuers = issuers
        self.audiences = audiences
        self.http = http
        self.timeout = timeout
    }

    /// Why a token was refused, for the caller's 401 (never the token itself).
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The token's claims, once every check passed. A provider whose keys cannot be
    /// fetched is a 503/502 (`AppError`), not a refusal.
    public func verify(_ token: String, nonce: String? = nil, now: Date = Date()) async throws -> [String: JSONValue] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(String(parts[0])), let payloadBytes = Base64URL.decode(String(parts[1])),
            let signature = Base64URL.decode(String(parts[2])),
            case .object(let header)? = try? JSONParser.parse(Array(headerBytes)),
            case .object(let claims)? = try? JSONParser.parse(Array(payloadBytes))
        else { throw Refusal(description: "not a signed JWT") }
        guard let alg = header["alg"]?.stringValue, algorithms.contains(alg) else {
            throw Refusal(description: "the algorithm must be one of \(algorithms.sorted().joined(separator: ", "))")
        }
        let kid = header["kid"]?.stringValue ?? ""
        guard let key = try await key(kid) else { throw Refusal(description: "signed by a key the provider does not publish") }
        guard key.algorithm == alg else { throw Refusal(description: "the algorithm does not match the key") }
        guard key.isValid(signature, for: Data((parts[0] + "." + parts[1]).utf8)) else { throw Refusal(description: "bad signature") }

        guard let issuer = claims["iss"]?.stringValue, issuers.contains(issuer) else { throw Refusal(description: "wrong issuer") }
        let audience: [String]
        switch claims["aud"] {
        case .string(let one): audience = [one]
        case .array(let many): audience = many.compactMap(\.stringValue)
        default: audience = []
        }
        guard audience.contains(where: audiences.contains) else { throw Refusal(description: "issued to another client") }
        let seconds = now.timeIntervalSince1970
        guard case .number(let exp)? = claims["exp"], exp > seconds - 60 else { throw Refusal(description: "expired") }
        if case .number(let iat)? = claims["iat"], iat > seconds + 300 { throw Refusal(description: "issued in the future") }
        if let nonce, claims["nonce"]?.stringValue != nonce { throw Refusal(description: "wrong nonce") }
        return claims
    }

    private func key(_ kid: String) async throws -> Key? {
        let (cached, fetched) = keys.withLockedValue { ($0.keys, $0.fetched) }
        if let key = cached[kid] { return key }
        // An unknown kid: the provider may have rotated. Not more than every 30 s, so a
        // stream of made-up kids does not turn into a stream of fetches.
        if let fetched, Date().timeIntervalSince(fetched) < 30 { return nil }
        let fresh = try await fetch()
        keys.withLockedValue { $0 = (fresh, Date()) }
        return fresh[kid]
    }

    private func fetch() async throws -> [String: Key] {
        var request = HTTPClientRequest(url: jwksURL)
        request.headers.add(name: "Accept", value: "application/json")
        let (status, bytes) = try await InternalClient.thirdParty(request, party: "The identity provider", http: http, timeout: timeout, limit: 1 << 20)
        guard status == 200 else { throw AppError.badGateway("The identity provider's keys answered \(status).") }
        guard let set = try? JSONDecoder().decode(JWKS.self, from: Data(buffer: bytes)) else {
            throw AppError.badGateway("The identity provider's keys could not be read.")
        }
        var result: [String: Key] = [:]
        for jwk in set.keys where (jwk.use ?? "sig") == "sig" {
            if jwk.kty == "RSA", let n = jwk.n.flatMap(Base64URL.decode), let e = jwk.e.flatMap(Base64URL.decode),
                let key = try? _RSA.Signing.PublicKey(n: n, e: e), key.keySizeInBits >= 2048
            {
                result[jwk.kid ?? ""] = .rsa(key)
            } else if jwk.kty == "OKP", jwk.crv == "Ed25519", let x = jwk.x.flatMap(Base64URL.decode),
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x)
            {
                result[jwk.kid ?? ""] = .ed25519(key)
            }
        }
        return result
    }
}
