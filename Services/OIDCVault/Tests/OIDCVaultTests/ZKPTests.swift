import Crypto
import Foundation
import SuiteCore
import SuiteSigning
import Testing
import VaultZKP

@Suite struct ZKPTests {
    let tenant = "acme"
    let username = "alice"

    /// Enrols with `enrolled`, logs in with `presented`: whether the key comes back.
    func unlocks(_ enrolled: GrayImage, with presented: GrayImage) throws -> (ok: Bool, errors: Int) {
        let server = Curve25519.KeyAgreement.PrivateKey()
        let client = ZKPClient(tenant: tenant, username: username)
        let sealed = try client.enroll(image: enrolled, encryptionKey: server.publicKey, kid: "k1")
        let commitment = try ZKP.Commitment.parse(try JSONParser.parse(Array(JWE.decrypt(sealed, with: server))))
        let (loginKey, cipherKey) = ZKPClient.loginKey()
        let nonce = SecureRandom.bytes(32)
        let payload: JSONValue = [
            "challenge_id": "c-1", "nonce": .string(Base64URL.encode(nonce)), "helper": commitment.helper.json,
            "code": ExtractorCode.version1.json, "algorithm_version": .string(ZKP.algorithmVersion),
        ]
        let recipient = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: Base64URL.decode(cipherKey)!)
        let challenge = try JWE.encrypt(CanonicalJSON.bytes(payload), to: recipient)
        let answer = try client.answer(challenge: challenge, loginKey: loginKey, image: presented, client: "web")
        let transcript = ZKP.transcript(
            tenant: tenant, client: "web", username: username, challengeID: "c-1", nonce: nonce,
            algorithmVersion: ZKP.algorithmVersion, helper: commitment.helper)
        return (commitment.publicKey.isValidSignature(Base64URL.decode(answer.challengeData)!, for: transcript), answer.errorBits)
    }

    @Test func theSamePhotoWithNoiseBrightnessAndResizeUnlocks() throws {
        let photo = TestImages.scene(seed: 42)
        #expect(try unlocks(photo, with: photo).ok)
        #expect(try unlocks(photo, with: TestImages.noisy(photo, sigma: 10)).ok)
        // Heavy noise flips some bits; the code corrects them, and the client reports them.
        let heavy = try unlocks(photo, with: TestImages.noisy(photo, sigma: 20, seed: 3))
        #expect(heavy.ok)
        #expect(heavy.errors > 0)
        #expect(try unlocks(photo, with: TestImages.brighter(photo, by: 25)).ok)
        #expect(try unlocks(photo, with: TestImages.scaled(photo, 0.9)).ok)
        // A re-encoded file (PGM round trip) is the same photo.
        #expect(try unlocks(photo, with: GrayImage.read(netpbm: TestImages.noisy(photo, sigma: 4).pgm)).ok)
    }

    @Test func anotherPhotoDoesNotUnlock() throws {
        for seed in [7, 99, 1234] as [UInt64] {
            let outcome = try unlocks(TestImages.scene(seed: 42), with: TestImages.scene(seed: seed))
            #expect(!outcome.ok)
            #expect(outcome.errors > 20)
        }
    }

    @Test func theKeyIsBoundToTenantAndUsername() {
        let key = (0..<17).map { UInt8($0) }
        let a = ZKP.signingKey(key: key, tenant: "acme", username: "alice").publicKey.rawRepresentation
        #expect(a == ZKP.signingKey(key: key, tenant: "acme", username: "alice").publicKey.rawRepresentation)
        #expect(a != ZKP.signingKey(key: key, tenant: "other", username: "alice").publicKey.rawRepresentation)
        #expect(a != ZKP.signingKey(key: key, tenant: "acme", username: "alice2").publicKey.rawRepresentation)
    }

    @Test func reedSolomonCorrectsUpToTByteErrorsAnywhere() {
        let code = ExtractorCode.version1
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<300 {
            let message = (0..<code.k).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var word = code.encode(bytes: message)
            #expect(word.count == code.n)
            #expect(Array(word.prefix(code.k)) == message, "systematic")
            let errors = trial % (code.t + 1)
            for position in Array(0..<code.n).shuffled(using: &generator).prefix(errors) {
                word[position] ^= UInt8.random(in: 1...255, using: &generator)
            }
            #expect(code.decode(bytes: word) == message, "\(errors) errors")
        }
    }

    @Test func reedSolomonNeverReturnsAWrongKeySilentlyForAFarWord() {
        let code = ExtractorCode.version1
        var generator = SystemRandomNumberGenerator()
        var refused = 0
        for _ in 0..<200 {
            let message = (0..<code.k).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var word = code.encode(bytes: message)
            for position in Array(0..<code.n).shuffled(using: &generator).prefix(12) { word[position] ^= UInt8.random(in: 1...255, using: &generator) }
            let decoded = code.decode(bytes: word)
            #expect(decoded != message)
            if decoded == nil { refused += 1 }
        }
        // Beyond t, a decoder mostly detects it; when it lands on another codeword the key
        // is simply wrong and the signature fails.
        #expect(refused > 150)
    }

    @Test func readsBinaryPGMAndPPM() throws {
        let pgm = Array("P5\n# comment\n2 1\n255\n".utf8) + [0, 255]
        #expect(try GrayImage.read(netpbm: pgm).pixels == [0, 255])
        let ppm = Array("P6 1 1 255\n".utf8) + [255, 255, 255]
        #expect(try GrayImage.read(netpbm: ppm).pixels.map { $0.rounded() } == [255])
        #expect(throws: GrayImage.ReadError.self) { try GrayImage.read(netpbm: Array("P2 1 1 255 0".utf8)) }
        #expect(throws: GrayImage.ReadError.truncated) { try GrayImage.read(netpbm: Array("P5 4 4 255\n".utf8) + [1, 2]) }
    }
}
