public import Crypto
import Foundation
public import SuiteCore

/// Signs and verifies compact JWS tokens (JWTs) with one algorithm fixed at start: the
/// token's own `alg` is never trusted, only compared. EdDSA (Ed25519) by default; HS512
/// for services that share a secret with their clients. Built on swift-crypto directly,
/// with no actor hop; callers keep what they verified in a `TokenMemo`.
public struct CompactJWS: Sendable {
    public enum Key: Sendable {
        case eddsa(Ed25519SigningKey)
        case hs512(SymmetricKey)
    }

    /// Why a token was refused; callers turn it into their own dialect's 401.
    public enum Failure: Error, Equatable, Sendable {
        case malformed, wrongAlgorithm, unknownKey, badSignature
    }

    public let key: Key
    private let headerSegment: String
    private let algorithm: String
    private let kid: String?

    public init(key: Key) {
        self.key = key
        switch key {
        case .eddsa(let signing):
            algorithm = "EdDSA"
            kid = signing.kid
            headerSegment = Base64URL.encode(Array(#"{"alg":"EdDSA","kid":"\#(signing.kid)","typ":"JWT"}"#.utf8))
        case .hs512:
            algorithm = "HS512"
            kid = nil
            headerSegment = Base64URL.encode(Array(#"{"alg":"HS512","typ":"JWT"}"#.utf8))
        }
    }

    /// The public keys, for a JWKS document (none for HS512: its key is a secret).
    public var jwks: JWKS {
        switch key {
        case .eddsa(let signing): JWKS(keys: [JWKS.publicJWK(ofEd25519: signing.publicKey, kid: signing.kid)])
        case .hs512: JWKS(keys: [])
        }
    }

    /// `payload` (JSON bytes) as a signed token.
    public func sign(payload: some DataProtocol) -> String {
        let input = headerSegment + "." + Base64URL.encode(payload)
        let signature: [UInt8]
        switch key {
        case .eddsa(let signing): signature = Array((try? signing.key.signature(for: Array(input.utf8))) ?? Data())
        case .hs512(let secret): signature = Array(HMAC<SHA512>.authenticationCode(for: Array(input.utf8), using: secret))
        }
        return input + "." + Base64URL.encode(signature)
    }

    /// The header (decoded) and payload (raw JSON) of a token whose signature, algorithm
    /// and key are ours. Claims are the caller's to check; this says only that we signed it.
    public func verify(_ token: String) throws(Failure) -> (header: JSONValue, payload: Data) {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count < 8192,
            let headerBytes = Base64URL.decode(Substring(parts[0])),
            let payload = Base64URL.decode(Substring(parts[1])),
            let signature = Base64URL.decode(Substring(parts[2])),
            let header = try? JSONDecoder().decode(JSONValue.self, from: headerBytes)
        else { throw .malformed }
        guard case .object(let members) = header, members["alg"] == .string(algorithm) else { throw .wrongAlgorithm }
        if let kid, members["kid"] != .string(kid) { throw .unknownKey }
        let input = Array(token.utf8.prefix(parts[0].count + 1 + parts[1].count))
        let valid: Bool
        switch key {
        case .eddsa(let signing): valid = signing.publicKey.isValidSignature(signature, for: input)
        case .hs512(let secret): valid = HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: input, using: secret)
        }
        guard valid else { throw .badSignature }
        return (header, payload)
    }
}

/// What a service learnt from tokens it verified, by their full text: a client sends the
/// same token for its whole life, and the signature check is the dearest part of an
/// authenticated read. Only a memo of a pure function (same token, same answer on every
/// replica); anything that changes with time (`exp`) is checked on every use.
public typealias TokenMemo<Value: Sendable> = Memo<String, Value>
