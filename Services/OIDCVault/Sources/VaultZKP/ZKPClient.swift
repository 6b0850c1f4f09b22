public import Crypto
import Foundation
public import SuiteCore
import SuiteSigning

/// The reference client of the zero-knowledge login: what a login page or an app does
/// on the user's device. Tests and `oidc-vault client enroll|login` use it.
public struct ZKPClient: Sendable {
    public let tenant: String
    public let username: String

    public init(tenant: String, username: String) {
        self.tenant = tenant
        self.username = username
    }

    public enum Failure: Error, Equatable {
        case badChallenge(String)
    }

    /// Enrolment: the `encrypted_commitment` for `image`, sealed to the tenant's
    /// encryption key (`use: enc` in its JWKS).
    public func enroll(image: GrayImage, encryptionKey: Curve25519.KeyAgreement.PublicKey, kid: String?) throws -> String {
        try JWE.encrypt(CanonicalJSON.bytes(commitment(image: image).json), to: encryptionKey, kid: kid)
    }

    /// The commitment before it is sealed: a new random key hidden under the image's bits.
    public func commitment(image: GrayImage) -> ZKP.Commitment {
        let coefficients = ImageFeatures.coefficients(of: image)
        let code = ExtractorCode.version1
        let positions = ImageFeatures.reliablePositions(of: coefficients)
        let features = ImageFeatures.bits(of: coefficients, at: positions)
        let (key, offset) = FuzzyExtractor.enroll(features: features, code: code)
        return ZKP.Commitment(
            publicKey: ZKP.signingKey(key: key, tenant: tenant, username: username).publicKey,
            helper: ZKP.Helper(positions: positions, offset: offset), code: code, algorithmVersion: ZKP.algorithmVersion,
            imageDim: [image.width, image.height])
    }

    /// A fresh key for one login: its public half is the `cipherKey` the challenge is
    /// sealed to.
    public static func loginKey() -> (key: Curve25519.KeyAgreement.PrivateKey, cipherKey: String) {
        let key = Curve25519.KeyAgreement.PrivateKey()
        return (key, Base64URL.encode(key.publicKey.rawRepresentation))
    }

    public struct Answer: Sendable {
        public let challengeID: String
        /// The Ed25519 signature over the transcript, base64url: `challenge_data`.
        public let challengeData: String
        public let errorBits: Int
        public let countBits: Int
        public let algorithmVersion: String
        public let imageDim: [Int]

        /// The `ber` member of authenticate, as the seed shapes it.
        public var ber: JSONValue {
            [
                "ber": [
                    "count_bits": .number(Double(countBits)), "error_bits": .number(Double(errorBits)),
                    "BER_PERCENT": .string(String(format: "%.2f", Double(errorBits) * 100 / Double(max(countBits, 1)))),
                ],
                "image_dim": .array(imageDim.map { .number(Double($0)) }),
                "algorithm_version": .string(algorithmVersion),
            ]
        }
    }

    /// Opens the challenge with the login key, reproduces the key from `image` and
    /// signs the transcript.
    public func answer(
        challenge: String, loginKey: Curve25519.KeyAgreement.PrivateKey, image: GrayImage, client: String
    ) throws -> Answer {
        let payload = try JSONParser.parse(Array(JWE.decrypt(challenge, with: loginKey)))
        guard let challengeID = payload["challenge_id"]?.stringValue, let nonceText = payload["nonce"]?.stringValue,
            let nonce = Base64URL.decode(nonceText), let codeValue = payload["code"], let helperValue = payload["helper"],
            let algorithm = payload["algorithm_version"]?.stringValue
        else { throw Failure.badChallenge("the challenge lacks challenge_id, nonce, code, helper or algorithm_version") }
        let code = try ExtractorCode.parse(codeValue)
        let helper = try ZKP.Helper.parse(helperValue, code: code)
        let coefficients = ImageFeatures.coefficients(of: image)
        let features = ImageFeatures.bits(of: coefficients, at: helper.positions)
        let (extracted, errors) = FuzzyExtractor.reproduce(features: features, helper: helper.offset, code: code)
        // Too far from the enrolled photo: the answer is made anyway (with a key that
        // cannot be the user's), so the server, not the device, says no.
        let key = extracted ?? [UInt8](repeating: 0, count: code.k)
        let signingKey = ZKP.signingKey(key: key, tenant: tenant, username: username)
        let transcript = ZKP.transcript(
            tenant: tenant, client: client, username: username, challengeID: challengeID, nonce: Array(nonce),
            algorithmVersion: algorithm, helper: helper)
        let signature = try signingKey.signature(for: transcript)
        return Answer(
            challengeID: challengeID, challengeData: Base64URL.encode(signature), errorBits: errors, countBits: code.n * 8,
            algorithmVersion: algorithm, imageDim: [image.width, image.height])
    }
}
