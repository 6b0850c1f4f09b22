import Crypto
import Foundation
import SuiteCore
import SuiteHTTP
import SuiteSigning
import VaultZKP

/// The zero-knowledge credential, apart from HTTP: opening a sealed commitment, keeping
/// it (helper data sealed at rest), reading it back, verifying an answer to a challenge,
/// and the login audit. The login routes and the email change (a fresh proof) use it.
struct ZKPLogin: Sendable {
    let store: CredentialStore
    let keys: KeyRing
    let atRestKey: SymmetricKey
    /// Each audited outcome is counted too (`vault_login_attempts_total{outcome}`).
    let metrics: HTTPMetrics

    static let failed = VaultError.unauthorized("Authentication failed")

    /// The authorization request a login answers, when it answers one.
    struct AuthRequest {
        let id: String
        let tenant: String
        let client: String
    }

    /// The commitment inside a JWE sealed to one of our encryption keys.
    func open(_ sealed: String) async throws -> ZKP.Commitment {
        guard let key = try await keys.encryptionKey(kid: JWE.keyID(of: sealed)) else {
            throw AppError.validation("encrypted_commitment", "Sealed to a key this server does not have (see the JWKS key with use \"enc\")")
        }
        do {
            let plaintext = try JWE.decrypt(sealed, with: key)
            guard let value = try? JSONParser.parse(Array(plaintext)) else {
                throw AppError.validation("encrypted_commitment", "The decrypted commitment is not JSON")
            }
            return try ZKP.Commitment.parse(value)
        } catch let error as JWE.Failure {
            throw AppError.validation("encrypted_commitment", "Not a readable ECDH-ES/A256GCM JWE: \(error)")
        } catch let error as ZKP.ParseError {
            throw AppError.validation("encrypted_commitment", error.description)
        }
    }

    /// Keeps the public key, the helper data sealed under the at-rest key (bound to the
    /// user), and the code parameters. Pending challenges of the old credential die.
    func save(_ commitment: ZKP.Commitment, tenant: String, userID: String) async throws {
        let helper = CanonicalJSON.bytes(commitment.helper.json)
        // `combined` is nil only for a nonce of other than 12 bytes; seal's own nonce is 12.
        guard let sealedHelper = try AES.GCM.seal(helper, using: atRestKey, authenticating: Array((tenant + "\u{0}" + userID).utf8)).combined
        else { throw AppError.internalError }
        let credential: JSONValue = [
            "code": commitment.code.json,
            "algorithm_version": .string(commitment.algorithmVersion), "proto_version": .string(ZKP.protoVersion),
            "image_dim": .array(commitment.imageDim.map { .number(Double($0)) }),
        ]
        try await store.replaceCredential(
            tenant: tenant, userID: userID, publicKey: Array(commitment.publicKey.rawRepresentation), sealedHelper: sealedHelper,
            parameters: credential)
    }

    struct Credential {
        let publicKey: Curve25519.Signing.PublicKey
        let helper: ZKP.Helper
        let code: ExtractorCode
        let algorithmVersion: String
    }

    func credential(tenant: String, userID: String) async throws -> Credential? {
        guard let (key, sealed, text) = try await store.credential(tenant: tenant, userID: userID) else { return nil }
        let credential = try JSONParser.parse(Array(text.utf8))
        let code = try ExtractorCode.parse(credential["code"] ?? .null)
        let box = try AES.GCM.SealedBox(combined: sealed)
        let helperBytes = try AES.GCM.open(box, using: atRestKey, authenticating: Array((tenant + "\u{0}" + userID).utf8))
        return Credential(
            publicKey: try Curve25519.Signing.PublicKey(rawRepresentation: key),
            helper: try ZKP.Helper.parse(try JSONParser.parse(Array(helperBytes)), code: code), code: code,
            algorithmVersion: credential["algorithm_version"]?.stringValue ?? "")
    }
    /// Consumes the challenge (once, atomically: of two parallel answers one finds it) and
    /// verifies the signature over the transcript. 401 for anything wrong.
    func verifyChallenge(
        tenant: String, user: VaultUser, challengeID: String, signature: String, authRequest: AuthRequest?
    ) async throws {
        guard let id = UUID(uuidString: challengeID), let signatureBytes = Base64URL.decode(signature) else { throw Self.failed }
        let nonce = try await store.consumeChallenge(id, tenant: tenant, userID: user.id, authReqID: authRequest?.id)
        guard let nonce, let credential = try await credential(tenant: tenant, userID: user.id) else { throw Self.failed }
        let transcript = ZKP.transcript(
            tenant: tenant, client: authRequest?.client ?? "", username: user.username, challengeID: challengeID, nonce: nonce,
            algorithmVersion: credential.algorithmVersion, helper: credential.helper)
        guard credential.publicKey.isValidSignature(signatureBytes, for: transcript) else { throw Self.failed }
    }

    func audit(tenant: String, userID: String?, outcome: String, ip: String, ber: JSONValue?, logData: [String: JSONValue]?) async throws {
        // The client's own record, kept as it came but for NUL, which jsonb cannot hold.
        let ber = ber.map(Self.withoutNUL)
        let logData = logData.map { Self.withoutNUL(.object($0)).objectValue ?? [:] }
        try await store.audit(tenant: tenant, userID: userID, outcome: outcome, ip: ip, ber: ber, logData: logData.map { .object($0) })
        metrics.count(
            "vault_login_attempts_total", help: "Image, passkey and step-up logins and enrolments by outcome", labels: [("outcome", outcome)])
    }

    static func withoutNUL(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text): .string(text.replacingOccurrences(of: "\u{0}", with: ""))
        case .array(let items): .array(items.map(withoutNUL))
        case .object(let members):
            .object(Dictionary(members.map { ($0.key.replacingOccurrences(of: "\u{0}", with: ""), withoutNUL($0.value)) }, uniquingKeysWith: { first, _ in first }))
        default: value
        }
    }
}
