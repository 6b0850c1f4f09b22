import Crypto
import Foundation
import SuiteCore
import SuiteSigning
import Testing
@testable import VaultZKP

@Suite struct JWETests {
    @Test func sealsAndOpens() throws {
        let key = Curve25519.KeyAgreement.PrivateKey()
        let token = try JWE.encrypt(Array("hello".utf8), to: key.publicKey, kid: "enc-1")
        #expect(token.split(separator: ".", omittingEmptySubsequences: false).count == 5)
        #expect(JWE.keyID(of: token) == "enc-1")
        #expect(try JWE.decrypt(token, with: key) == Data("hello".utf8))
    }

    @Test func refusesAnotherKeyATamperedTokenAndOtherAlgorithms() throws {
        let key = Curve25519.KeyAgreement.PrivateKey()
        let token = try JWE.encrypt(Array("hello".utf8), to: key.publicKey)
        #expect(throws: JWE.Failure.decryptionFailed) { try JWE.decrypt(token, with: Curve25519.KeyAgreement.PrivateKey()) }
        var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        parts[3] = Base64URL.encode(Array("jello".utf8))
        #expect(throws: JWE.Failure.decryptionFailed) { try JWE.decrypt(parts.joined(separator: "."), with: key) }
        let header = Base64URL.encode(Array(#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#.utf8))
        #expect(throws: JWE.Failure.unsupported("alg must be ECDH-ES")) { try JWE.decrypt(header + "..y.z.w", with: key) }
        #expect(throws: JWE.Failure.self) { try JWE.decrypt("not a token", with: key) }
    }

    /// RFC 7518 Appendix C: the Concat KDF example (ECDH-ES, A128GCM, apu "Alice",
    /// apv "Bob") — the same OtherInfo layout, checked with the RFC's own numbers.
    @Test func concatKDFMatchesRFC7518AppendixC() throws {
        let z: [UInt8] = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163, 218, 128, 106, 72, 246,
            218, 167, 121, 140, 254, 144, 196,
        ]
        var input: [UInt8] = [0, 0, 0, 1] + z
        for field in [Array("A128GCM".utf8), Array("Alice".utf8), Array("Bob".utf8)] {
            input += withUnsafeBytes(of: UInt32(field.count).bigEndian, Array.init) + field
        }
        input += withUnsafeBytes(of: UInt32(128).bigEndian, Array.init)
        let key = Array(SHA256.hash(data: input).prefix(16))
        #expect(Base64URL.encode(key) == "VqqN6vgjbSBcIijNcacQGg")
    }
}
