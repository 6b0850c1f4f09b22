import Crypto
import Foundation
import SuiteCore
import SuiteSigning
import SuiteTesting
import Testing
import VaultZKP

/// A person at the suite's vault, as the reference image client does it: enrolment with a
/// photo, then the code flow with PKCE and the zero-knowledge image login.
enum ImageLogin {
    /// A photo with detail enough for the image login: stripes and boxes of light.
    static func photo() -> GrayImage {
        let width = 160, height = 120
        var pixels = [Double](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                var value = 120 + 50 * sin(Double(x) * 0.11) * cos(Double(y) * 0.07)
                if (20..<70).contains(x), (30..<60).contains(y) { value += 60 }
                if (100..<140).contains(x), (70..<110).contains(y) { value -= 70 }
                pixels[y * width + x] = max(0, min(255, value))
            }
        }
        return GrayImage(width: width, height: height, pixels: pixels)
    }

    static func form(_ fields: [(String, String)]) -> [UInt8] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return Array(fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&").utf8)
    }

    static func query(_ location: String?, _ name: String) -> String? {
        location.flatMap { URLComponents(string: $0)?.queryItems?.first { $0.name == name }?.value }
    }

    /// The photo's commitment, sealed for `tenant`'s encryption key.
    static func sealedCommitment(vault: String, tenant: String, username: String) async throws -> String {
        let jwks = try await send(.GET, vault + "/tenants/\(tenant)/.well-known/jwks.json").json
        let enc = try #require(jwks?["keys"]?.arrayValue?.first { $0["use"] == "enc" })
        let encKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: try #require(enc["x"]?.stringValue.flatMap(Base64URL.decode)))
        return try ZKPClient(tenant: tenant, username: username).enroll(image: photo(), encryptionKey: encKey, kid: enc["kid"]?.stringValue)
    }

    /// Enrols `username` in `tenant` with the photo.
    static func register(vault: String, tenant: String, username: String, email: String) async throws {
        let registered = try await send(.POST, vault + "/auth/register?tenant_id=\(tenant)", json: [
            "username": .string(username), "email": .string(email), "proto_version": "1",
            "encrypted_commitment": .string(try await sealedCommitment(vault: vault, tenant: tenant, username: username)),
        ])
        #expect(registered.status == 201, "\(registered.text)")
    }

    /// An authorization request of `clientID` and the image login's answer in it.
    static func authenticate(
        vault: String, tenant: String, clientID: String, redirect: String, scope: String, username: String, verifier: String, nonce: String
    ) async throws -> (authReqID: String, answer: TestResponse) {
        let challenge = Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
        let authorize = try await fetchWithoutRedirect(vault + "/tenants/\(tenant)/authorize?" + String(decoding: form([
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirect), ("scope", scope), ("state", "s1"),
            ("nonce", nonce), ("code_challenge", challenge), ("code_challenge_method", "S256"),
        ]), as: UTF8.self))
        let authReqID = try #require(query(authorize.header("Location"), "auth_req_id"), "\(authorize.text)")
        let client = ZKPClient(tenant: tenant, username: username)
        let (loginKey, cipherKey) = ZKPClient.loginKey()
        let challenged = try await send(
            .POST, vault + "/auth/challenge?auth_req_id=\(authReqID)", json: ["username": .string(username), "cipherKey": .string(cipherKey)])
        guard let challengeData = challenged.json?["challenge_data"]?.stringValue,
            let answer = try? client.answer(challenge: challengeData, loginKey: loginKey, image: photo(), client: clientID)
        else { return (authReqID, challenged) }
        let authenticated = try await send(.POST, vault + "/auth/authenticate?auth_req_id=\(authReqID)", json: [
            "username": .string(username), "cipherKey": .string(cipherKey), "challenge_id": .string(answer.challengeID),
            "challenge_data": .string(answer.challengeData),
        ])
        return (authReqID, authenticated)
    }

    /// The authorization code `username` gets for `clientID` after the image login.
    static func code(
        vault: String, tenant: String, clientID: String, redirect: String, scope: String, username: String, verifier: String, nonce: String
    ) async throws -> String {
        let (authReqID, authenticated) = try await authenticate(
            vault: vault, tenant: tenant, clientID: clientID, redirect: redirect, scope: scope, username: username, verifier: verifier, nonce: nonce)
        let resumeNonce = try #require(authenticated.json?["nonce"]?.stringValue, "\(authenticated.text)")
        let resumed = try await fetchWithoutRedirect(vault + "/authorize/continue?auth_req_id=\(authReqID)&nonce=\(resumeNonce)")
        return try #require(query(resumed.header("Location"), "code"), "\(resumed.text)")
    }
}
