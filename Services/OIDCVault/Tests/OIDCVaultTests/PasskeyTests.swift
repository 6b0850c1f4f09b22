import Crypto
import Foundation
import SuiteCore
import SuiteSigning
import SuiteTesting
import Testing
import VaultZKP

@testable import OIDCVault

/// A software authenticator (P-256 or Ed25519 keys, `none` or `packed` self-attestation),
/// as a browser's `navigator.credentials` would answer.
struct SoftAuthenticator {
    enum Key {
        case p256(P256.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    var key: Key
    let credentialID = SecureRandom.bytes(32)
    var counter: UInt32 = 0
    let rpID: String
    let origin: String

    init(rpID: String = "login.example.com", origin: String = "https://login.example.com", ed25519: Bool = false) {
        self.rpID = rpID
        self.origin = origin
        key = ed25519 ? .ed25519(Curve25519.Signing.PrivateKey()) : .p256(P256.Signing.PrivateKey())
    }

    var coseKey: [UInt8] {
        switch key {
        case .p256(let key):
            let raw = Array(key.publicKey.x963Representation)
            return CBOREncoder.map([(.int(1), .int(2)), (.int(3), .int(-7)), (.int(-1), .int(1)), (.int(-2), .bytes(Array(raw[1...32]))), (.int(-3), .bytes(Array(raw[33...64])))])
        case .ed25519(let key):
            return CBOREncoder.map([(.int(1), .int(1)), (.int(3), .int(-8)), (.int(-1), .int(6)), (.int(-2), .bytes(Array(key.publicKey.rawRepresentation)))])
        }
    }

    func sign(_ data: [UInt8]) -> [UInt8] {
        switch key {
        case .p256(let key): Array((try! key.signature(for: data)).derRepresentation)
        case .ed25519(let key): Array(try! key.signature(for: data))
        }
    }

    func clientData(_ type: String, challenge: String, origin: String? = nil) -> [UInt8] {
        Array(#"{"type":"\#(type)","challenge":"\#(challenge)","origin":"\#(origin ?? self.origin)","crossOrigin":false}"#.utf8)
    }

    func authenticatorData(attested: Bool, rpID: String? = nil) -> [UInt8] {
        var data = Array(SHA256.hash(data: Array((rpID ?? self.rpID).utf8)))
        data.append(attested ? 0x45 : 0x05)
        data += [UInt8(counter >> 24 & 0xFF), UInt8(counter >> 16 & 0xFF), UInt8(counter >> 8 & 0xFF), UInt8(counter & 0xFF)]
        if attested {
            data += [UInt8](repeating: 0, count: 16)
            data += [UInt8(credentialID.count >> 8), UInt8(credentialID.count & 0xFF)] + credentialID + coseKey
        }
        return data
    }

    /// The body of `/webauthn/register/verify`.
    mutating func register(challenge: String, packed: Bool = false, origin: String? = nil, rpID: String? = nil) -> JSONValue {
        counter += 1
        let clientData = clientData("webauthn.create", challenge: challenge, origin: origin)
        let authData = authenticatorData(attested: true, rpID: rpID)
        var statement: [(CBOREncoder.Item, CBOREncoder.Item)] = []
        if packed {
            let alg: Int64 = if case .p256 = key { -7 } else { -8 }
            statement = [(.text("alg"), .int(alg)), (.text("sig"), .bytes(sign(authData + Array(SHA256.hash(data: clientData)))))]
        }
        let attestation = CBOREncoder.map([
            (.text("fmt"), .text(packed ? "packed" : "none")), (.text("attStmt"), .raw(CBOREncoder.map(statement))), (.text("authData"), .bytes(authData)),
        ])
        return [
            "id": .string(Base64URL.encode(credentialID)), "raw_id": .string(Base64URL.encode(credentialID)),
            "client_data_json": .string(Base64URL.encode(clientData)), "attestation_object": .string(Base64URL.encode(attestation)),
            "transports": ["internal"], "name": "My laptop",
        ]
    }

    /// The body of `/webauthn/authenticate/verify`.
    mutating func assert(challenge: String, username: String, tenant: String, userHandle: String? = nil, origin: String? = nil) -> JSONValue {
        counter += 1
        let clientData = clientData("webauthn.get", challenge: challenge, origin: origin)
        let authData = authenticatorData(attested: false)
        var body: [String: JSONValue] = [
            "id": .string(Base64URL.encode(credentialID)), "raw_id": .string(Base64URL.encode(credentialID)),
            "client_data_json": .string(Base64URL.encode(clientData)), "authenticator_data": .string(Base64URL.encode(authData)),
            "signature": .string(Base64URL.encode(sign(authData + Array(SHA256.hash(data: clientData))))),
            "username": .string(username), "tenant_id": .string(tenant),
        ]
        if let userHandle { body["user_handle"] = .string(userHandle) }
        return .object(body)
    }
}

/// Just enough CBOR encoding for the authenticator.
enum CBOREncoder {
    indirect enum Item {
        case int(Int64), bytes([UInt8]), text(String), raw([UInt8])
    }

    static func head(_ major: UInt8, _ value: UInt64) -> [UInt8] {
        switch value {
        case 0..<24: [major << 5 | UInt8(value)]
        case 24..<256: [major << 5 | 24, UInt8(value)]
        case 256..<65_536: [major << 5 | 25, UInt8(value >> 8), UInt8(value & 0xFF)]
        default: [major << 5 | 26] + (0..<4).reversed().map { UInt8(value >> (8 * UInt64($0)) & 0xFF) }
        }
    }

    static func encode(_ item: Item) -> [UInt8] {
        switch item {
        case .int(let value): value >= 0 ? head(0, UInt64(value)) : head(1, UInt64(-1 - value))
        case .bytes(let bytes): head(2, UInt64(bytes.count)) + bytes
        case .text(let text): head(3, UInt64(text.utf8.count)) + Array(text.utf8)
        case .raw(let bytes): bytes
        }
    }

    static func map(_ pairs: [(Item, Item)]) -> [UInt8] {
        head(5, UInt64(pairs.count)) + pairs.flatMap { encode($0.0) + encode($0.1) }
    }
}

@Suite struct PasskeyTests {
    static let relyingParty: [String: JSONValue] = [
        "passkey_enabled": true, "webauthn_rp_id": "login.example.com", "webauthn_origins": ["https://login.example.com"],
    ]

    /// A tenant with passkeys on, a client, and Ann signed in (her bearer token).
    static func setUp(_ vault: VaultFixture) async throws -> (VaultFixture.TestClient, String) {
        try await vault.tenant("acme", relyingParty)
        let web = try await vault.client("web", tenant: "acme")
        #expect(try await vault.register(tenant: "acme", username: "ann", email: "ann@example.com", image: TestImages.scene(seed: 42)).status == 201)
        let token = try #require(try await vault.codeFlow(web, username: "ann", image: TestImages.scene(seed: 42))["access_token"]?.stringValue)
        return (web, token)
    }

    @Test func aPasskeyIsRegisteredAndLogsInThroughTheCodeFlow() async throws {
        try await VaultFixture.run { vault in
            let (web, token) = try await Self.setUp(vault)
            var authenticator = SoftAuthenticator()
            let options = try await vault.call(.POST, "/webauthn/register/options", json: [:], as: .bearer(token))
            #expect(options.status == 200 && options.json?["rp"]?["id"] == "login.example.com", "\(options.text)")
            #expect(options.json?["pubKeyCredParams"]?.arrayValue?.count == 3)
            let challenge = try #require(options.json?["challenge"]?.stringValue)
            let registered = try await vault.call(.POST, "/webauthn/register/verify", json: authenticator.register(challenge: challenge), as: .bearer(token))
            #expect(registered.status == 201 && registered.json?["name"] == "My laptop", "\(registered.text)")
            // The challenge was spent.
            #expect(try await vault.call(.POST, "/webauthn/register/verify", json: authenticator.register(challenge: challenge), as: .bearer(token)).status == 400)

            let listed = try await vault.call(.GET, "/passkeys", as: .bearer(token))
            let keyID = try #require(listed.json?["passkeys"]?.arrayValue?.first?["id"]?.stringValue, "\(listed.text)")
            let renamed = try await vault.call(.PATCH, "/passkeys/\(keyID)", json: ["name": "Work laptop"], as: .bearer(token))
            #expect(renamed.status == 200 && renamed.json?["name"] == "Work laptop")

            // The login: options for Ann list her credential; the assertion completes the request.
            let flow = VaultFixture.Flow()
            let authReqID = try await vault.authorize(web, flow: flow)
            let loginOptions = try await vault.call(.POST, "/webauthn/authenticate/options?tenant_id=acme", json: ["username": "ann", "tenant_id": "acme"], as: .nobody)
            #expect(loginOptions.json?["allowCredentials"]?.arrayValue?.count == 1 && loginOptions.json?["rpId"] == "login.example.com")
            let loginChallenge = try #require(loginOptions.json?["challenge"]?.stringValue)
            let annID = try #require(try await vault.call(.GET, "/tenants/acme/users/by-username/ann").json?["user_id"]?.stringValue)
            let verified = try await vault.call(
                .POST, "/webauthn/authenticate/verify?auth_req_id=\(authReqID)",
                json: authenticator.assert(challenge: loginChallenge, username: "ann", tenant: "acme", userHandle: Base64URL.encode(Array(annID.utf8))), as: .nobody)
            #expect(verified.status == 200 && verified.json?["need_verify"] == false, "\(verified.text)")
            let nonce = try #require(verified.json?["nonce"]?.stringValue)
            let redirect = try await vault.service.fetchWithoutRedirect(vault.base + "/authorize/continue?auth_req_id=\(authReqID)&nonce=\(nonce)")
            #expect(redirect.status == 302 && redirect.header("Location")?.contains("code=") == true, "\(redirect.text)")
            #expect(try await vault.call(.GET, "/passkeys", as: .bearer(token)).json?["passkeys"]?.arrayValue?.first?["last_use"]?["ip"] != nil)

            #expect(try await vault.call(.DELETE, "/passkeys/\(keyID)", as: .bearer(token)).status == 204)
            #expect(try await vault.call(.DELETE, "/passkeys/\(keyID)", as: .bearer(token)).status == 404)
        }
    }

    @Test func clonesWrongOriginsWrongRPsAndReplaysAreRefused() async throws {
        try await VaultFixture.run { vault in
            let (_, token) = try await Self.setUp(vault)
            func registrationChallenge() async throws -> String {
                try #require(try await vault.call(.POST, "/webauthn/register/options", json: [:], as: .bearer(token)).json?["challenge"]?.stringValue)
            }
            func loginChallenge() async throws -> String {
                try #require(try await vault.call(.POST, "/webauthn/authenticate/options", json: ["username": "ann", "tenant_id": "acme"], as: .nobody)
                    .json?["challenge"]?.stringValue)
            }
            var ed = SoftAuthenticator(ed25519: true)
            var wrong = ed
            let badOrigin = try await vault.call(.POST, "/webauthn/register/verify", json: wrong.register(challenge: try await registrationChallenge(), origin: "https://evil.example"), as: .bearer(token))
            #expect(badOrigin.status == 400 && badOrigin.text.contains("origin"))
            let badRP = try await vault.call(.POST, "/webauthn/register/verify", json: wrong.register(challenge: try await registrationChallenge(), rpID: "evil.example"), as: .bearer(token))
            #expect(badRP.status == 400 && badRP.text.contains("RP ID"))
            let madeUp = try await vault.call(.POST, "/webauthn/register/verify", json: wrong.register(challenge: Base64URL.encode(SecureRandom.bytes(32))), as: .bearer(token))
            #expect(madeUp.status == 400)
            // Packed self-attestation with an Ed25519 key is accepted.
            let packed = try await vault.call(.POST, "/webauthn/register/verify", json: ed.register(challenge: try await registrationChallenge(), packed: true), as: .bearer(token))
            #expect(packed.status == 201, "\(packed.text)")

            var clone = ed
            let first = try await vault.call(.POST, "/webauthn/authenticate/verify", json: ed.assert(challenge: try await loginChallenge(), username: "ann", tenant: "acme"), as: .nobody)
            #expect(first.status == 200, "\(first.text)")
            // The clone signs with the counter the original already used.
            let cloned = try await vault.call(.POST, "/webauthn/authenticate/verify", json: clone.assert(challenge: try await loginChallenge(), username: "ann", tenant: "acme"), as: .nobody)
            #expect(cloned.status == 401, "\(cloned.text)")
            // A replayed assertion (same challenge) and a wrong origin are refused.
            let challenge = try await loginChallenge()
            let body = ed.assert(challenge: challenge, username: "ann", tenant: "acme")
            #expect(try await vault.call(.POST, "/webauthn/authenticate/verify", json: body, as: .nobody).status == 200)
            #expect(try await vault.call(.POST, "/webauthn/authenticate/verify", json: body, as: .nobody).status == 401)
            #expect(try await vault.call(.POST, "/webauthn/authenticate/verify", json: ed.assert(challenge: try await loginChallenge(), username: "ann", tenant: "acme", origin: "https://evil.example"), as: .nobody).status == 401)
            // Another user's name with Ann's credential; a user handle that is not hers.
            #expect(try await vault.register(tenant: "acme", username: "bob", email: "bob@example.com", image: TestImages.scene(seed: 7)).status == 201)
            #expect(try await vault.call(.POST, "/webauthn/authenticate/verify", json: ed.assert(challenge: try await loginChallenge(), username: "bob", tenant: "acme"), as: .nobody).status == 401)
            #expect(try await vault.call(.POST, "/webauthn/authenticate/verify", json: ed.assert(challenge: try await loginChallenge(), username: "ann", tenant: "acme", userHandle: "Ym9i"), as: .nobody).status == 401)
            // Malformed CBOR and base64 are a 400, never a crash.
            var broken = SoftAuthenticator()
            guard case .object(var garbage) = broken.register(challenge: try await registrationChallenge()) else { return }
            garbage["attestation_object"] = .string(Base64URL.encode([0xA3, 0x63, 0x66, 0x6D]))
            #expect(try await vault.call(.POST, "/webauthn/register/verify", json: .object(garbage), as: .bearer(token)).status == 400)
            garbage["attestation_object"] = "***"
            #expect(try await vault.call(.POST, "/webauthn/register/verify", json: .object(garbage), as: .bearer(token)).status == 400)
            // Unknown users get options too, with nothing listed.
            let nobody = try await vault.call(.POST, "/webauthn/authenticate/options", json: ["username": "nobody", "tenant_id": "acme"], as: .nobody)
            #expect(nobody.status == 200 && nobody.json?["allowCredentials"] == [])
        }
    }

    @Test func passkeysNeedTheTenantToAllowThemAndAUser() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            #expect(try await vault.call(.POST, "/webauthn/authenticate/options", json: ["username": "ann", "tenant_id": "acme"], as: .nobody).status == 403)
            #expect(try await vault.call(.GET, "/passkeys", as: .nobody).status == 401)
            // The operator key is nobody's: it has no passkeys.
            #expect(try await vault.call(.GET, "/passkeys").status == 403)
            #expect(try await vault.call(.POST, "/webauthn/register/options", json: [:]).status == 403)
        }
    }

    @Test func cborIsDecodedWithinBounds() throws {
        #expect(try CBOR.decode([0xA1, 0x01, 0x26]) == .map([(.unsigned(1), .negative(-7))]))
        #expect(try CBOR.decode([0x43, 1, 2, 3]) == .bytes([1, 2, 3]))
        for bad: [UInt8] in [[], [0x5F], [0x43, 1], [0xC0, 0x01], [0x7F], [0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], [0x01, 0x02]] {
            #expect(throws: CBOR.Failure.self) { try CBOR.decode(bad) }
        }
        let deep = [UInt8](repeating: 0x81, count: 40) + [0x01]
        #expect(throws: CBOR.Failure.self) { try CBOR.decode(deep) }
    }
}
