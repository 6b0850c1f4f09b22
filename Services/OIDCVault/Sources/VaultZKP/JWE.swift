public import Crypto
import Foundation
import SuiteCore
import SuiteSigning

/// Compact JWE (RFC 7516) with direct key agreement: `alg` ECDH-ES over X25519
/// (RFC 8037), `enc` A256GCM, the content key from the Concat KDF of NIST SP 800-56A
/// as RFC 7518 §4.6 specifies. Only this one combination: anything else is refused,
/// never negotiated.
public enum JWE {
    public enum Failure: Error, Equatable, Sendable {
        case malformed(String)
        case unsupported(String)
        case wrongKey
        case decryptionFailed
    }

    /// Seals `plaintext` to `recipient`. `kid` names the recipient key in the header.
    public static func encrypt(
        _ plaintext: some DataProtocol, to recipient: Curve25519.KeyAgreement.PublicKey, kid: String? = nil
    ) throws -> String {
        let ephemeral = Curve25519.KeyAgreement.PrivateKey()
        var header: [String: JSONValue] = [
            "alg": "ECDH-ES", "enc": "A256GCM",
            "epk": ["kty": "OKP", "crv": "X25519", "x": .string(Base64URL.encode(ephemeral.publicKey.rawRepresentation))],
        ]
        if let kid { header["kid"] = .string(kid) }
        let headerSegment = Base64URL.encode(CanonicalJSON.bytes(.object(header)))
        let shared = try ephemeral.sharedSecretFromKeyAgreement(with: recipient)
        let key = contentKey(shared: shared, apu: [], apv: [])
        let sealed = try AES.GCM.seal(Data(plaintext), using: key, authenticating: Array(headerSegment.utf8))
        return [
            headerSegment, "", Base64URL.encode(Array(sealed.nonce)), Base64URL.encode(sealed.ciphertext),
            Base64URL.encode(sealed.tag),
        ].joined(separator: ".")
    }

    /// The protected header's `kid`, read before choosing the key to decrypt with.
    public static func keyID(of token: String) -> String? {
        guard let first = token.split(separator: ".", maxSplits: 1).first, let bytes = Base64URL.decode(first),
            let header = try? JSONParser.parse(Array(bytes))
        else { return nil }
        return header["kid"]?.stringValue
    }

    /// Opens a token sealed to `key`.
    public static func decrypt(_ token: String, with key: Curve25519.KeyAgreement.PrivateKey) throws(Failure) -> Data {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 262_144, parts.count == 5 else { throw .malformed("a compact JWE has five parts") }
        guard parts[1].isEmpty else { throw .unsupported("ECDH-ES carries no encrypted key") }
        guard let headerBytes = Base64URL.decode(parts[0]), let header = try? JSONParser.parse(Array(headerBytes)),
            case .object(let members) = header
        else { throw .malformed("the protected header is not base64url JSON") }
        guard members["alg"] == "ECDH-ES" else { throw .unsupported("alg must be ECDH-ES") }
        guard members["enc"] == "A256GCM" else { throw .unsupported("enc must be A256GCM") }
        if let critical = members["crit"] { throw .unsupported("unknown critical header \(CanonicalJSON.string(critical))") }
        guard let epk = members["epk"], epk["kty"] == "OKP", epk["crv"] == "X25519", let x = epk["x"]?.stringValue,
            let raw = Base64URL.decode(x), raw.count == 32,
            let ephemeral = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: raw)
        else { throw .malformed("epk must be an X25519 OKP key") }
        guard let iv = Base64URL.decode(parts[2]), iv.count == 12, let ciphertext = Base64URL.decode(parts[3]),
            let tag = Base64URL.decode(parts[4]), tag.count == 16
        else { throw .malformed("iv, ciphertext or tag is not valid") }
        func party(_ name: String) throws(Failure) -> [UInt8] {
            guard let value = members[name] else { return [] }
            guard let text = value.stringValue, let bytes = Base64URL.decode(text) else { throw .malformed("\(name) is not base64url") }
            return Array(bytes)
        }
        let apu = try party("apu"), apv = try party("apv")
        guard let shared = try? key.sharedSecretFromKeyAgreement(with: ephemeral) else { throw .wrongKey }
        // An all-zero shared secret means a small-order point: refuse it (RFC 7748 §6.1).
        guard shared.withUnsafeBytes({ $0.contains { $0 != 0 } }) else { throw .wrongKey }
        let contentKey = contentKey(shared: shared, apu: apu, apv: apv)
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: iv), ciphertext: ciphertext, tag: tag)
            return try AES.GCM.open(box, using: contentKey, authenticating: Array(parts[0].utf8))
        } catch {
            throw .decryptionFailed
        }
    }

    /// Concat KDF with SHA-256 (one round: 256 bits are asked), OtherInfo as RFC 7518
    /// §4.6.2 lays it out for direct agreement: AlgorithmID is the `enc` value.
    static func contentKey(shared: SharedSecret, apu: [UInt8], apv: [UInt8]) -> SymmetricKey {
        var input: [UInt8] = [0, 0, 0, 1]
        shared.withUnsafeBytes { input.append(contentsOf: $0) }
        func lengthPrefixed(_ bytes: [UInt8]) {
            input.append(contentsOf: withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init))
            input.append(contentsOf: bytes)
        }
        lengthPrefixed(Array("A256GCM".utf8))
        lengthPrefixed(apu)
        lengthPrefixed(apv)
        input.append(contentsOf: withUnsafeBytes(of: UInt32(256).bigEndian, Array.init))
        return SymmetricKey(data: SHA256.hash(data: input))
    }
}
