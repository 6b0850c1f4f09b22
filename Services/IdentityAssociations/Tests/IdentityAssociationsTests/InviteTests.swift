import Crypto
import Foundation
import SuiteCore
import SuiteSigning
import SuiteHTTP
import SuiteTesting
import Testing

@testable import IdentityAssociations

/// store-invite, the invite mail, sign-ed25519 and the keys homeservers check.
@Suite struct ThirdPartyInviteTests {
    static let v1 = Identity.v1

    static let invite: JSONValue = [
        "medium": "email", "address": "Invitee@Example.org", "room_id": "!room:example.org", "sender": "@bob:example.org",
        "room_name": "Café Plans", "sender_display_name": "Bob", "room_avatar_url": "mxc://example.org/abc",
    ]

    @Test func storeInviteMailsTheInviteeAndTheEphemeralKeySignsTheAcceptance() async throws {
        try await Identity.run { identity in
            let response = try await identity.call(.POST, Self.v1 + "/store-invite", json: Self.invite)
            #expect(response.status == 200, "\(response.text)")
            let token = try #require(response.json?["token"]?.stringValue)
            #expect(response.json?["display_name"] == "inv...@exa...")
            let keys = try #require(response.json?["public_keys"]?.arrayValue)
            #expect(keys.count == 2)
            #expect(keys[0]["key_validity_url"]?.stringValue == identity.base + Self.v1 + "/pubkey/isvalid")
            #expect(keys[1]["key_validity_url"]?.stringValue == identity.base + Self.v1 + "/pubkey/ephemeral/isvalid")
            let longTerm = try #require(keys[0]["public_key"]?.stringValue)
            let ephemeral = try #require(keys[1]["public_key"]?.stringValue)
            #expect(response.json?["public_key"]?.stringValue == longTerm)

            let valid = try await identity.call(.GET, Self.v1 + "/pubkey/isvalid?public_key=\(BrandTemplates.escapeURL(longTerm))")
            #expect(valid.json == ["valid": true])
            let ephemeralValid = try await identity.call(.GET, Self.v1 + "/pubkey/ephemeral/isvalid?public_key=\(BrandTemplates.escapeURL(ephemeral))")
            #expect(ephemeralValid.json == ["valid": true])
            let notValid = try await identity.call(.GET, Self.v1 + "/pubkey/ephemeral/isvalid?public_key=\(BrandTemplates.escapeURL(longTerm))")
            #expect(notValid.json == ["valid": false])

            // The mail carries the store-invite parameters and the ephemeral private key.
            let mail = try await identity.sink.waitForMail(to: "invitee@example.org")
            #expect(mail.header("Subject") == "=?UTF-8?B?\(Data("Bob has invited you to Café Plans".utf8).base64EncodedString())?=")
            #expect(mail.data.contains("Bob (@bob:example.org) has invited you into a room"))
            #expect(mail.data.contains("room_avatar_url=mxc%3A%2F%2Fexample.org%2Fabc"))
            #expect(mail.data.contains("token%3D\(token)") || mail.data.contains("token=\(token)"))
            // The invitee's client signs with the private key from the link.
            let encodedSignURL = try #require(Identity.value(after: "signurl=", in: mail.data)?.prefix { $0 != "&" })
            let signURL = try #require(String(encodedSignURL).removingPercentEncoding)
            let components = try #require(URLComponents(string: signURL))
            let seed = try #require(components.queryItems?.first { $0.name == "private_key" }?.value)
            #expect(components.queryItems?.first { $0.name == "token" }?.value == token)
            let signed = try await identity.call(
                .POST, Self.v1 + "/sign-ed25519", json: ["mxid": "@invitee:example.org", "token": .string(token), "private_key": .string(seed)])
            #expect(signed.status == 200, "\(signed.text)")
            let object = try #require(signed.json?.objectValue)
            #expect(object["sender"] == "@bob:example.org" && object["mxid"] == "@invitee:example.org" && object["token"] == .string(token))
            let ephemeralKey = try Curve25519.Signing.PublicKey(rawRepresentation: try #require(Base64URL.decode(ephemeral)))
            #expect(Matrix.verify(object, server: "id.example.org", keyID: "ed25519:0", publicKey: ephemeralKey))

            let unknown = try await identity.call(
                .POST, Self.v1 + "/sign-ed25519", json: ["mxid": "@invitee:example.org", "token": "nope", "private_key": .string(seed)])
            #expect(unknown.status == 404)
            #expect(unknown.json?["errcode"] == "M_UNRECOGNIZED")
            let badKey = try await identity.call(
                .POST, Self.v1 + "/sign-ed25519", json: ["mxid": "@invitee:example.org", "token": .string(token), "private_key": "short"])
            #expect(badKey.json?["errcode"] == "M_INVALID_PARAM")
        }
    }

    @Test func bindingTheAddressDeliversThePendingInvitesOnce() async throws {
        try await Identity.run { identity in
            identity.homeserver.failingOnBinds.withLock { $0 = 1 }
            let stored = try await identity.call(.POST, Self.v1 + "/store-invite", json: Self.invite)
            let token = try #require(stored.json?["token"]?.stringValue)
            let bound = try await identity.bind("invitee@example.org", to: "@invitee:example.org")
            let invites = try #require(bound.json?["invites"]?.arrayValue)
            #expect(invites.count == 1)
            #expect(invites[0]["room_id"] == "!room:example.org")
            #expect(invites[0]["sender"] == "@bob:example.org")
            let signedPart = try #require(invites[0]["signed"]?.objectValue)
            #expect(signedPart["token"] == .string(token) && signedPart["mxid"] == "@invitee:example.org")
            let publicKey = try #require(stored.json?["public_key"]?.stringValue)
            let key = try Curve25519.Signing.PublicKey(rawRepresentation: try #require(Base64URL.decode(publicKey)))
            #expect(Matrix.verify(signedPart, server: "id.example.org", keyID: "ed25519:0", publicKey: key))
            let boundObject = try #require(bound.json?.objectValue)
            #expect(Matrix.verify(boundObject, server: "id.example.org", keyID: "ed25519:0", publicKey: key))

            // The homeserver heard of it through 3pid/onbind: the same signed association,
            // invites included, even though it failed the first attempt.
            let notified = try await identity.homeserver.waitForOnBinds(1)
            #expect(notified.first == bound.json)

            let again = try await identity.bind("invitee@example.org", to: "@invitee:example.org", secret: "another")
            #expect(again.json?["invites"] == nil)
            let both = try await identity.homeserver.waitForOnBinds(2)
            #expect(both.count == 2 && both[1]["invites"] == nil && both[1]["mxid"] == "@invitee:example.org")

            // Now bound: another invite is refused with the owner.
            let inUse = try await identity.call(.POST, Self.v1 + "/store-invite", json: Self.invite)
            #expect(inUse.status == 400)
            #expect(inUse.json?["errcode"] == "M_THREEPID_IN_USE")
            #expect(inUse.json?["mxid"] == "@invitee:example.org")
        }
    }

    @Test func storeInviteRefusesOtherMediaAndBadInput() async throws {
        try await Identity.run { identity in
            var phone = Self.invite.objectValue!
            phone["medium"] = "msisdn"
            let medium = try await identity.call(.POST, Self.v1 + "/store-invite", json: .object(phone))
            #expect(medium.status == 400)
            #expect(medium.json?["errcode"] == "M_UNRECOGNIZED")
            var badEmail = Self.invite.objectValue!
            badEmail["address"] = "nope"
            #expect(try await identity.call(.POST, Self.v1 + "/store-invite", json: .object(badEmail)).json?["errcode"] == "M_INVALID_EMAIL")
            let missing = try await identity.call(.POST, Self.v1 + "/store-invite", json: ["medium": "email"])
            #expect(missing.json?["errcode"] == "M_MISSING_PARAMS")
            let rows = try await identity.database.query("SELECT count(*)::int FROM pending_invites", logger: .init(label: "t"))
            for try await count in rows.decode(Int.self) { #expect(count == 0) }
        }
    }

    @Test func storeInviteTakesAnyRoomIDAsSydentDoesAndSaysInUseBeforeShapeChecks() async throws {
        try await Identity.run { identity in
            // Homeservers pass event-id-like and other strings: sydent stores them as given.
            for roomID in ["$event-like:example.org", "room without a sigil", "!x"] {
                var invite = Self.invite.objectValue!
                invite["room_id"] = .string(roomID)
                invite["address"] = .string("r\(roomID.count)@example.org")
                let stored = try await identity.call(.POST, Self.v1 + "/store-invite", json: .object(invite))
                #expect(stored.status == 200, "\(roomID): \(stored.text)")
            }
            var empty = Self.invite.objectValue!
            empty["room_id"] = ""
            #expect(try await identity.call(.POST, Self.v1 + "/store-invite", json: .object(empty)).json?["errcode"] == "M_INVALID_PARAM")
            var long = Self.invite.objectValue!
            long["room_id"] = .string(String(repeating: "r", count: 256))
            #expect(try await identity.call(.POST, Self.v1 + "/store-invite", json: .object(long)).json?["errcode"] == "M_INVALID_PARAM")

            // A bound address is M_THREEPID_IN_USE even when an optional field is out of shape.
            _ = try await identity.bind("taken@example.org", to: "@taken:example.org", secret: "taken-secret")
            var taken = Self.invite.objectValue!
            taken["address"] = "Taken@example.org"
            taken["room_name"] = .string(String(repeating: "n", count: 5000))
            let inUse = try await identity.call(.POST, Self.v1 + "/store-invite", json: .object(taken))
            #expect(inUse.status == 400)
            #expect(inUse.json?["errcode"] == "M_THREEPID_IN_USE", "\(inUse.text)")
            #expect(inUse.json?["mxid"] == "@taken:example.org")
            // Not bound, the same field is refused.
            taken["address"] = "free@example.org"
            #expect(try await identity.call(.POST, Self.v1 + "/store-invite", json: .object(taken)).json?["errcode"] == "M_INVALID_PARAM")

            // v2: the inviter is the account that calls.
            let carol = try await identity.register("@carol:127.0.0.1")
            let notHers = try await identity.call(.POST, Identity.v2 + "/store-invite", json: Self.invite, token: carol)
            #expect(notHers.status == 403)
            #expect(notHers.json?["errcode"] == "M_UNAUTHORIZED")
            var hers = Self.invite.objectValue!
            hers["sender"] = "@carol:127.0.0.1"
            #expect(try await identity.call(.POST, Identity.v2 + "/store-invite", json: .object(hers), token: carol).status == 200)
        }
    }

    @Test func storeInviteIsRateLimitedPerSender() async throws {
        try await Identity.run(rateLimits: try RateLimitSettings.parse("is-store-invite-sender=1/3600")) { identity in
            #expect(try await identity.call(.POST, Self.v1 + "/store-invite", json: Self.invite).status == 200)
            var second = Self.invite.objectValue!
            second["address"] = "second@example.org"
            let limited = try await identity.call(.POST, Self.v1 + "/store-invite", json: .object(second))
            #expect(limited.status == 429)
            #expect(limited.json?["errcode"] == "M_LIMIT_EXCEEDED")
        }
    }

    @Test func publicKeyRoutes() async throws {
        try await Identity.run { identity in
            let key = try await identity.call(.GET, Self.v1 + "/pubkey/ed25519:0")
            #expect(key.json?["public_key"]?.stringValue == identity.settings.publicKeyBase64)
            let unknown = try await identity.call(.GET, Self.v1 + "/pubkey/ed25519:1")
            #expect(unknown.status == 404)
            #expect(unknown.json?["errcode"] == "M_NOT_FOUND")
            let missing = try await identity.call(.GET, Self.v1 + "/pubkey/isvalid")
            #expect(missing.json?["errcode"] == "M_MISSING_PARAMS")
        }
    }
}

/// v2: the same operations behind an account token, registration through the user's
/// homeserver, terms, and hashed lookups.
@Suite struct V2Tests {
    static let v2 = Identity.v2

    static func termsFile() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("terms-\(UUID()).yaml").path
        try TermsPolicyTests.sydentExample.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func registrationVerifiesTheOpenIDTokenWithTheHomeserver() async throws {
        try await Identity.run { identity in
            let token = try await identity.register("@alice:127.0.0.1")
            let account = try await identity.call(.GET, Self.v2 + "/account", token: token)
            #expect(account.json == ["user_id": "@alice:127.0.0.1"])
            let query = try await identity.call(.GET, Self.v2 + "/account?access_token=\(token)")
            #expect(query.status == 200)

            let unknown = try await identity.call(
                .POST, Self.v2 + "/account/register", json: ["access_token": "forged", "matrix_server_name": "127.0.0.1"])
            #expect(unknown.status == 401)
            #expect(unknown.json?["errcode"] == "M_UNKNOWN_TOKEN")
            // The homeserver vouches for a user of another server: refused.
            let openID = identity.homeserver.issue(for: "@eve:evil.example")
            let foreign = try await identity.call(
                .POST, Self.v2 + "/account/register", json: ["access_token": .string(openID), "matrix_server_name": "127.0.0.1"])
            #expect(foreign.status == 403)
            let badName = try await identity.call(
                .POST, Self.v2 + "/account/register", json: ["access_token": "x", "matrix_server_name": "evil.example/path"])
            #expect(badName.json?["errcode"] == "M_INVALID_PARAM")

            let logout = try await identity.call(.POST, Self.v2 + "/account/logout", token: token)
            #expect(logout.status == 200)
            let after = try await identity.call(.GET, Self.v2 + "/account", token: token)
            #expect(after.status == 401)
            #expect(after.json?["errcode"] == "M_UNAUTHORIZED")
        }
    }

    @Test func unreachableHomeserverIsABadGatewayNotAServerError() async throws {
        try await Identity.run(configure: { $0.homeserverBaseURL = "http://127.0.0.1:\(try FreePort.next())" }) { identity in
            let response = try await identity.call(
                .POST, Self.v2 + "/account/register", json: ["access_token": "x", "matrix_server_name": "127.0.0.1"])
            #expect(response.status == 502)
            #expect(response.json?["errcode"] == "M_UNKNOWN")
        }
    }

    @Test func v2CallsNeedATokenAndAcceptedTerms() async throws {
        let path = try Self.termsFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await Identity.run(configure: { $0.terms = try TermsPolicy.load(file: path) }) { identity in
            let anonymous = try await identity.call(.GET, Self.v2 + "/hash_details")
            #expect(anonymous.status == 401)
            #expect(anonymous.json?["errcode"] == "M_UNAUTHORIZED")
            let token = try await identity.register("@bob:127.0.0.1")
            let blocked = try await identity.call(.GET, Self.v2 + "/hash_details", token: token)
            #expect(blocked.status == 403)
            #expect(blocked.json?["errcode"] == "M_TERMS_NOT_SIGNED")
            let blockedRequest = try await identity.call(
                .POST, Self.v2 + "/validate/email/requestToken", json: ["email": "bob@example.org", "client_secret": "abc"], token: token)
            #expect(blockedRequest.json?["errcode"] == "M_TERMS_NOT_SIGNED")

            let terms = try await identity.call(.GET, Self.v2 + "/terms")
            #expect(terms.json?["policies"]?["privacy_policy"]?["en"]?["url"] == "https://example.org/somewhere/privacy-1.2-en.html")
            // One document accepted is not enough.
            _ = try await identity.call(.POST, Self.v2 + "/terms", json: ["user_accepts": ["https://example.org/somewhere/terms-1.2-fr.html"]], token: token)
            #expect(try await identity.call(.GET, Self.v2 + "/hash_details", token: token).status == 403)
            _ = try await identity.call(
                .POST, Self.v2 + "/terms", json: ["user_accepts": ["https://example.org/somewhere/privacy-1.2-en.html", "https://unknown.example/x"]],
                token: token)
            let allowed = try await identity.call(.GET, Self.v2 + "/hash_details", token: token)
            #expect(allowed.status == 200, "\(allowed.text)")
            let anonymousTerms = try await identity.call(.POST, Self.v2 + "/terms", json: ["user_accepts": []])
            #expect(anonymousTerms.status == 401)
        }
    }

    @Test func hashedLookupsFindBoundAddresses() async throws {
        try await Identity.run { identity in
            try await identity.bind("Alice@Example.com", to: "@alice:example.com")
            let token = try await identity.register("@carol:127.0.0.1")
            let details = try await identity.call(.GET, Self.v2 + "/hash_details", token: token)
            #expect(details.json?["algorithms"]?.arrayValue == ["none", "sha256"])
            let pepper = try #require(details.json?["lookup_pepper"]?.stringValue)
            #expect(pepper.count >= 16)

            let hash = Associations.lookupHash(address: "alice@example.com", medium: "email", pepper: pepper)
            let missingHash = Associations.lookupHash(address: "bob@example.com", medium: "email", pepper: pepper)
            let hashed = try await identity.call(
                .POST, Self.v2 + "/lookup", json: ["addresses": [.string(hash), .string(missingHash)], "algorithm": "sha256", "pepper": .string(pepper)],
                token: token)
            #expect(hashed.json == ["mappings": [hash: "@alice:example.com"]])
            // Asked twice, with something that is no hash: answered once, whether
            // PostgreSQL or the index (loading after the first lookup) answers.
            for _ in 0..<3 {
                let repeated = try await identity.call(
                    .POST, Self.v2 + "/lookup",
                    json: ["addresses": [.string(hash), "not a hash", .string(missingHash), .string(hash)], "algorithm": "sha256", "pepper": .string(pepper)],
                    token: token)
                #expect(repeated.json == ["mappings": [hash: "@alice:example.com"]])
                #expect(repeated.text.components(separatedBy: hash).count == 2, "\(repeated.text)")
                try await Task.sleep(for: .milliseconds(100))
            }

            let plain = try await identity.call(
                .POST, Self.v2 + "/lookup", json: ["addresses": ["ALICE@example.com email", "bob@example.com email"], "algorithm": "none", "pepper": .string(pepper)],
                token: token)
            #expect(plain.json == ["mappings": ["ALICE@example.com email": "@alice:example.com"]])

            let wrongPepper = try await identity.call(
                .POST, Self.v2 + "/lookup", json: ["addresses": [.string(hash)], "algorithm": "sha256", "pepper": "old"], token: token)
            #expect(wrongPepper.status == 400)
            #expect(wrongPepper.json?["errcode"] == "M_INVALID_PEPPER")
            #expect(wrongPepper.json?["lookup_pepper"]?.stringValue == pepper)
            let wrongAlgorithm = try await identity.call(
                .POST, Self.v2 + "/lookup", json: ["addresses": [], "algorithm": "md5", "pepper": .string(pepper)], token: token)
            #expect(wrongAlgorithm.json?["errcode"] == "M_INVALID_PARAM")
        }
    }

    @Test func v2BindIsForTheAccountsOwnUserID() async throws {
        try await Identity.run { identity in
            let token = try await identity.register("@dan:127.0.0.1")
            let sid = try await identity.validated("dan@example.org", version: Self.v2, token: token)
            let mail = try #require(identity.sink.messages.last)
            #expect(mail.data.contains(Self.v2 + "/validate/email/submitToken?"))
            let other = try await identity.call(
                .POST, Self.v2 + "/3pid/bind", json: ["sid": .string(sid), "client_secret": "monkeys_are_GREAT", "mxid": "@eve:127.0.0.1"], token: token)
            #expect(other.status == 403)
            let own = try await identity.call(
                .POST, Self.v2 + "/3pid/bind", json: ["sid": .string(sid), "client_secret": "monkeys_are_GREAT", "mxid": "@dan:127.0.0.1"], token: token)
            #expect(own.json?["mxid"] == "@dan:127.0.0.1")
            // The mailed link works without a token.
            let page = try await identity.call(.GET, Self.v2 + "/validate/email/submitToken?sid=\(sid)&client_secret=x&token=y")
            #expect(page.status == 400)
            #expect(page.header("Content-Type")?.hasPrefix("text/html") == true)
        }
    }

    @Test func v1CanBeSwitchedOff() async throws {
        try await Identity.run(configure: { $0.enableV1 = false }) { identity in
            let v1 = try await identity.call(.GET, Identity.v1 + "/pubkey/ed25519:0")
            #expect(v1.status == 404)
            #expect(v1.json?["errcode"] == "M_UNRECOGNIZED")
            #expect(try await identity.call(.GET, Self.v2 + "/pubkey/ed25519:0").status == 200)
            #expect(try await identity.call(.GET, Self.v2).json == [:])
        }
    }
}
