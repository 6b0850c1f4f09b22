import Crypto
import Foundation
import SuiteCore
import Testing

@testable import SuiteSigning

@Suite struct KeyLoadingTests {
    @Test func readsABase64Seed() throws {
        let original = Ed25519SigningKey.generate()
        let loaded = try Ed25519SigningKey.parse(original.seedBase64, variable: "K")
        #expect(loaded.publicKey.rawRepresentation == original.publicKey.rawRepresentation)
        #expect(loaded.kid == original.kid)
    }

    @Test func readsABase64URLSeedWithAChosenKid() throws {
        let original = Ed25519SigningKey.generate()
        let text = "kid:2026-11:" + Base64URL.encode(original.key.rawRepresentation)
        let loaded = try Ed25519SigningKey.parse(text, variable: "K")
        #expect(loaded.kid == "2026-11")
        #expect(loaded.publicKey.rawRepresentation == original.publicKey.rawRepresentation)
    }

    @Test func readsSydentsSigningKeyLine() throws {
        let original = Ed25519SigningKey.generate()
        let loaded = try Ed25519SigningKey.parse("ed25519 0 \(original.seedBase64)", variable: "IS_SIGNING_KEY")
        #expect(loaded.kid == "ed25519:0")
        #expect(loaded.publicKey.rawRepresentation == original.publicKey.rawRepresentation)
    }

    @Test func readsAPKCS8PEM() throws {
        let original = Curve25519.Signing.PrivateKey()
        let loaded = try Ed25519SigningKey.parse(original.pemRepresentation, variable: "K")
        #expect(loaded.publicKey.rawRepresentation == original.publicKey.rawRepresentation)
    }

    @Test(arguments: ["", "not base64!", "AAAA", "ed25519 0 short", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"])
    func refusesAnythingElseNamingTheVariable(_ text: String) {
        let error = #expect(throws: ConfigurationError.self) { try Ed25519SigningKey.parse(text, variable: "SERVICE_SIGNING_KEY") }
        #expect(error?.variable == "SERVICE_SIGNING_KEY")
    }

    @Test func theKidIsTheRFC7638ThumbprintOfTheKey() throws {
        // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
        let x = try #require(Base64URL.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"))
        let key = try Curve25519.Signing.PublicKey(rawRepresentation: x)
        #expect(JWKS.thumbprint(ofEd25519: key) == String("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k".prefix(16)))
    }

    @Test func rsaKeysArePublishedWithModulusAndExponent() throws {
        let pem = try String(contentsOfFile: #filePath.replacingOccurrences(of: "KeyLoadingTests.swift", with: "rsa-test-key.pem"), encoding: .utf8)
        let key = try RSASigningKey.parse(pem: pem, variable: "VAULT_SIGNING_KEYS")
        let jwk = try JWKS.publicJWK(ofRSA: key.key, kid: key.kid)
        #expect(jwk.kty == "RSA")
        #expect(jwk.alg == "RS256")
        #expect(jwk.e == "AQAB")
        #expect((jwk.n?.count ?? 0) > 300)
        #expect(key.kid.count == 16)
        #expect(throws: ConfigurationError.self) { try RSASigningKey.parse(pem: "nope", variable: "V") }
    }
}

@Suite struct ServiceTrustTests {
    @Test func readsJWKSURLsAndStaticKeys() throws {
        let key = Ed25519SigningKey.generate()
        let text = "meet-rooms=http://127.0.0.1:8081/internal/jwks.json, oidc-vault=kid:k1:\(key.publicKey.rawRepresentation.base64EncodedString())"
        let trust = try ServiceTrust.parse(text)
        guard case .jwks(let url) = trust.issuers["meet-rooms"] else { Issue.record("no jwks source"); return }
        #expect(url == "http://127.0.0.1:8081/internal/jwks.json")
        guard case .keys(let keys) = trust.issuers["oidc-vault"] else { Issue.record("no keys"); return }
        #expect(keys["k1"]?.rawRepresentation == key.publicKey.rawRepresentation)
    }

    @Test func severalKeysOfOneIssuerAreKeptForRotation() throws {
        let old = Ed25519SigningKey.generate()
        let new = Ed25519SigningKey.generate()
        let trust = try ServiceTrust.parse(
            "meet-rooms=\(old.publicKey.rawRepresentation.base64EncodedString()),meet-rooms=\(new.publicKey.rawRepresentation.base64EncodedString())")
        guard case .keys(let keys) = trust.issuers["meet-rooms"] else { Issue.record("no keys"); return }
        #expect(Set(keys.keys) == [old.kid, new.kid])
    }

    @Test(arguments: ["meet-rooms", "=http://x", "bad name=http://x", "meet-rooms=notakey", "a=http://x,a=http://y"])
    func refusesMalformedEntries(_ text: String) {
        #expect(throws: ConfigurationError.self) { try ServiceTrust.parse(text) }
    }

    @Test func emptyMeansNobody() throws {
        #expect(try ServiceTrust.parse("").issuers.isEmpty)
    }
}
