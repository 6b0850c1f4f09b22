import Crypto
import _CryptoExtras
import Foundation
import SuiteCore
import SuiteSigning

/// WebAuthn Level 2 verification, without I/O: authenticator data, COSE public keys
/// (ES256, EdDSA, RS256), client data, the `none` and `packed` (self) attestation
/// formats, and assertion signatures. Every refusal is a `WebAuthn.Refusal` with the
/// reason, which the routes turn into a 400.
enum WebAuthn {
    struct Refusal: Error, Equatable, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// COSE algorithm identifiers offered and accepted.
    static let algorithms: [Int64] = [-7, -8, -257]

    struct AuthenticatorData {
        let rpIDHash: [UInt8]
        let flags: UInt8
        let signCount: UInt32
        /// Present at registration: the new credential's id and public key.
        let credentialID: [UInt8]?
        let publicKey: [UInt8]?

        var userPresent: Bool { flags & 0x01 != 0 }
        var userVerified: Bool { flags & 0x04 != 0 }

        init(_ bytes: [UInt8]) throws(Refusal) {
            guard bytes.count >= 37 else { throw Refusal("authenticator data is too short") }
            rpIDHash = Array(bytes[0..<32])
            flags = bytes[32]
            signCount = bytes[33..<37].reduce(0) { $0 << 8 | UInt32($1) }
            if flags & 0x40 != 0 {
                guard bytes.count >= 55 else { throw Refusal("attested credential data is truncated") }
                let length = Int(bytes[53]) << 8 | Int(bytes[54])
                guard length >= 16, length <= 1_023, bytes.count >= 55 + length else { throw Refusal("credential id is malformed") }
                credentialID = Array(bytes[55..<(55 + length)])
                let rest = Array(bytes[(55 + length)...])
                var consumed = 0
                do {
                    _ = try CBOR.decode(rest, consumed: &consumed)
                } catch {
                    throw Refusal("credential public key: \(error.reason)")
                }
                publicKey = Array(rest.prefix(consumed))
            } else {
                credentialID = nil
                publicKey = nil
            }
        }
    }

    /// A credential public key (COSE_Key, RFC 9053), usable to verify.
    enum PublicKey {
        case es256(P256.Signing.PublicKey)
        case eddsa(Curve25519.Signing.PublicKey)
        case rs256(_RSA.Signing.PublicKey)

        var algorithm: Int64 {
            switch self {
            case .es256: -7
            case .eddsa: -8
            case .rs256: -257
            }
        }

        init(cose bytes: [UInt8]) throws(Refusal) {
            let key: CBOR
            do { key = try CBOR.decode(bytes) } catch { throw Refusal("credential public key: \(error.reason)") }
            guard let kty = key[int: 1]?.int, let alg = key[int: 3]?.int else { throw Refusal("credential public key lacks kty or alg") }
            switch (kty, alg) {
            case (2, -7):
                guard key[int: -1]?.int == 1, case .bytes(let x)? = key[int: -2], case .bytes(let y)? = key[int: -3], x.count == 32, y.count == 32,
                    let parsed = try? P256.Signing.PublicKey(x963Representation: [0x04] + x + y)
                else { throw Refusal("not a P-256 key") }
                self = .es256(parsed)
            case (1, -8):
                guard key[int: -1]?.int == 6, case .bytes(let x)? = key[int: -2], let parsed = try? Curve25519.Signing.PublicKey(rawRepresentation: x)
                else { throw Refusal("not an Ed25519 key") }
                self = .eddsa(parsed)
            case (3, -257):
                guard case .bytes(let n)? = key[int: -1], case .bytes(let e)? = key[int: -2], let parsed = try? _RSA.Signing.PublicKey(n: n, e: e),
                    parsed.keySizeInBits >= 2048
                else { throw Refusal("not an RSA key of 2048 bits or more") }
                self = .rs256(parsed)
            default: throw Refusal("algorithm \(alg) is not accepted")
            }
        }

        func isValid(_ signature: [UInt8], for data: [UInt8]) -> Bool {
            switch self {
            case .es256(let key):
                guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
                return key.isValidSignature(parsed, for: data)
            case .eddsa(let key):
                return key.isValidSignature(signature, for: data)
            case .rs256(let key):
                return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: data, padding: .insecurePKCS1v1_5)
            }
        }
    }

    /// The checked client data: its type, challenge and origin.
    struct ClientData {
        let challenge: String
        let hash: [UInt8]

        init(_ bytes: [UInt8], type expected: String, origins: Set<String>) throws(Refusal) {
            guard bytes.count <= 4_096, case .object(let object)? = try? JSONParser.parse(bytes) else { throw Refusal("client data is not JSON") }
            guard object["type"]?.stringValue == expected else { throw Refusal("client data type is not \(expected)") }
            guard let challenge = object["challenge"]?.stringValue, !challenge.isEmpty else { throw Refusal("client data has no challenge") }
            guard let origin = object["origin"]?.stringValue, origins.contains(origin) else {
                throw Refusal("origin \(object["origin"]?.stringValue ?? "none") is not one of this tenant's")
            }
            if object["crossOrigin"] == .bool(true) { throw Refusal("cross-origin requests are not accepted") }
            self.challenge = challenge
            hash = Array(SHA256.hash(data: bytes))
        }
    }

    /// A new credential from `navigator.credentials.create`: its id, COSE key bytes and counter.
    struct Registration {
        let credentialID: [UInt8]
        let publicKey: [UInt8]
        let algorithm: Int64
        let signCount: UInt32
        let userVerified: Bool
    }

    static func register(attestationObject: [UInt8], clientDataHash: [UInt8], rpID: String) throws(Refusal) -> Registration {
        let attestation: CBOR
        do { attestation = try CBOR.decode(attestationObject) } catch { throw Refusal("attestation object: \(error.reason)") }
        guard case .text(let format)? = attestation[text: "fmt"], case .bytes(let authBytes)? = attestation[text: "authData"] else {
            throw Refusal("attestation object lacks fmt or authData")
        }
        let data = try AuthenticatorData(authBytes)
        guard data.rpIDHash == Array(SHA256.hash(data: Array(rpID.utf8))) else { throw Refusal("the RP ID hash is not this tenant's") }
        guard data.userPresent else { throw Refusal("the user was not present") }
        guard let credentialID = data.credentialID, let keyBytes = data.publicKey else { throw Refusal("no attested credential") }
        let key = try PublicKey(cose: keyBytes)
        switch format {
        case "none":
            break
        case "packed":
            guard let statement = attestation[text: "attStmt"], statement[text: "alg"]?.int == key.algorithm,
                case .bytes(let signature)? = statement[text: "sig"]
            else { throw Refusal("packed attestation lacks alg or sig, or its alg is not the key's") }
            guard statement[text: "x5c"] == nil else { throw Refusal("packed attestation with a certificate chain is not accepted (self attestation only)") }
            guard key.isValid(signature, for: authBytes + clientDataHash) else { throw Refusal("the packed self-attestation signature is wrong") }
        default:
            throw Refusal("attestation format \(format) is not accepted (none, packed)")
        }
        return Registration(
            credentialID: credentialID, publicKey: keyBytes, algorithm: key.algorithm, signCount: data.signCount, userVerified: data.userVerified)
    }

    /// An assertion from `navigator.credentials.get`, against the stored key; the new counter.
    static func assert(
        authenticatorData: [UInt8], clientDataHash: [UInt8], signature: [UInt8], publicKey: [UInt8], storedCount: UInt32, rpID: String
    ) throws(Refusal) -> (signCount: UInt32, userVerified: Bool) {
        let data = try AuthenticatorData(authenticatorData)
        guard data.rpIDHash == Array(SHA256.hash(data: Array(rpID.utf8))) else { throw Refusal("the RP ID hash is not this tenant's") }
        guard data.userPresent else { throw Refusal("the user was not present") }
        let key = try PublicKey(cose: publicKey)
        guard key.isValid(signature, for: authenticatorData + clientDataHash) else { throw Refusal("the signature is wrong") }
        // A counter that does not move forward means a copy of the authenticator (§6.1.1).
        if data.signCount != 0 || storedCount != 0, data.signCount <= storedCount {
            throw Refusal("the signature counter went back: the credential may have been cloned")
        }
        return (data.signCount, data.userVerified)
    }
}
