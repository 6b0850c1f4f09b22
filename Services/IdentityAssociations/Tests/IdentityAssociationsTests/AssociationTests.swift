import AsyncHTTPClient
import Crypto
import Foundation
import PostgresNIO
import SuiteCore
import SuiteSigning
import SuiteTesting
import Testing

@testable import IdentityAssociations

/// Bind, lookups and unbind, with signatures checked against the published key.
@Suite struct AssociationTests {
    static let v1 = Identity.v1

    func serverKey(_ identity: Identity) async throws -> Curve25519.Signing.PublicKey {
        let response = try await identity.call(.GET, Self.v1 + "/pubkey/ed25519:0")
        let text = try #require(response.json?["public_key"]?.stringValue)
        return try Curve25519.Signing.PublicKey(rawRepresentation: try #require(Base64URL.decode(text)))
    }

    @Test func bindPublishesASignedAssociationThatLookupsFindCaseInsensitively() async throws {
        try await Identity.run { identity in
            let bound = try await identity.bind("Louise@Bobs.Burgers", to: "@ears:matrix.org")
            #expect(bound.status == 200, "\(bound.text)")
            let object = try #require(bound.json?.objectValue)
            #expect(object["address"] == "louise@bobs.burgers")
            #expect(object["medium"] == "email")
            #expect(object["mxid"] == "@ears:matrix.org")
            let ts = try #require(object["ts"]?.intValue), notAfter = try #require(object["not_after"]?.intValue)
            #expect(object["not_before"]?.intValue == ts && notAfter > ts)
            let key = try await serverKey(identity)
            #expect(Matrix.verify(object, server: "id.example.org", keyID: "ed25519:0", publicKey: key))

            // The seed's `/bind` is the same operation.
            let sid = try await identity.validated("other@example.org", secret: "xyz")
            let legacy = try await identity.call(
                .POST, Self.v1 + "/bind", json: ["sid": .string(sid), "client_secret": "xyz", "mxid": "@other:matrix.org"])
            #expect(legacy.json?["mxid"] == "@other:matrix.org")

            let lookup = try await identity.call(.GET, Self.v1 + "/lookup?medium=email&address=LOUISE%40bobs.burgers")
            let found = try #require(lookup.json?.objectValue)
            #expect(found["mxid"] == "@ears:matrix.org")
            #expect(Matrix.verify(found, server: "id.example.org", keyID: "ed25519:0", publicKey: key))
            let none = try await identity.call(.GET, Self.v1 + "/lookup?medium=email&address=nobody%40example.org")
            #expect(none.status == 200 && none.json == [:])

            let bulk = try await identity.call(
                .POST, Self.v1 + "/bulk_lookup",
                json: ["threepids": [["email", "Louise@bobs.burgers"], ["email", "nobody@example.org"], ["email", "other@example.org"]]])
            let triples = try #require(bulk.json?["threepids"]?.arrayValue)
            #expect(Set(triples.compactMap { $0.arrayValue?.compactMap(\.stringValue).joined(separator: " ") }) == [
                "email Louise@bobs.burgers @ears:matrix.org", "email other@example.org @other:matrix.org",
            ])
        }
    }

    @Test func concurrentLookupsEachGetTheirOwnAnswer() async throws {
        try await Identity.run { identity in
            for name in ["ann", "ben", "cy"] { try await identity.bind("\(name)@example.org", to: "@\(name):example.org", secret: name) }
            let answers = try await withThrowingTaskGroup(of: (String, JSONValue?).self) { group in
                for index in 0..<60 {
                    let name = ["ann", "ben", "cy", "dora", "eli"][index % 5]
                    group.addTask {
                        (name, try await identity.call(.GET, Self.v1 + "/lookup?medium=email&address=\(name)%40example.org").json)
                    }
                }
                var all: [(String, JSONValue?)] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            #expect(answers.count == 60)
            for (name, json) in answers {
                if ["ann", "ben", "cy"].contains(name) {
                    #expect(json?["mxid"]?.stringValue == "@\(name):example.org")
                    #expect(json?["address"]?.stringValue == "\(name)@example.org")
                } else {
                    #expect(json == [:])
                }
            }
        }
    }

    @Test func bindNeedsAValidatedSessionAndAUserID() async throws {
        try await Identity.run { identity in
            let (sid, _) = try await identity.requestEmailToken("kate@example.org")
            let pending = try await identity.call(
                .POST, Self.v1 + "/3pid/bind", json: ["sid": .string(sid), "client_secret": "monkeys_are_GREAT", "mxid": "@kate:example.org"])
            #expect(pending.status == 400)
            #expect(pending.json?["errcode"] == "M_SESSION_NOT_VALIDATED")
            let wrongSecret = try await identity.call(
                .POST, Self.v1 + "/3pid/bind", json: ["sid": .string(sid), "client_secret": "nope", "mxid": "@kate:example.org"])
            #expect(wrongSecret.status == 404)
            #expect(wrongSecret.json?["errcode"] == "M_NO_VALID_SESSION")
            let badID = try await identity.call(
                .POST, Self.v1 + "/3pid/bind", json: ["sid": .string(sid), "client_secret": "monkeys_are_GREAT", "mxid": "kate"])
            #expect(badID.json?["errcode"] == "M_INVALID_PARAM")
            let missing = try await identity.call(.POST, Self.v1 + "/3pid/bind", json: ["sid": .string(sid)])
            #expect(missing.json?["errcode"] == "M_MISSING_PARAMS")
            let rows = try await identity.database.query("SELECT count(*)::int FROM associations", logger: .init(label: "t"))
            for try await count in rows.decode(Int.self) { #expect(count == 0) }
        }
    }

    @Test func anAddressValidatedInAnyCaseCanBeUnbound() async throws {
        try await Identity.run { identity in
            try await identity.bind("Alice@Example.org", to: "@alice:example.org", secret: "first")
            // Later, from another device, the person validates the address typed differently.
            let sid = try await identity.validated("alice@EXAMPLE.org", secret: "second")
            let wrongUser = try await identity.call(
                .POST, Self.v1 + "/3pid/unbind",
                json: ["sid": .string(sid), "client_secret": "second", "mxid": "@mallory:example.org",
                       "threepid": ["medium": "email", "address": "ALICE@example.org"]])
            #expect(wrongUser.status == 404)
            let unbind = try await identity.call(
                .POST, Self.v1 + "/3pid/unbind",
                json: ["sid": .string(sid), "client_secret": "second", "mxid": "@alice:example.org",
                       "threepid": ["medium": "email", "address": "ALICE@example.org"]])
            #expect(unbind.status == 200, "\(unbind.text)")
            #expect(unbind.json == [:])
            let lookup = try await identity.call(.GET, Self.v1 + "/lookup?medium=email&address=alice%40example.org")
            #expect(lookup.json == [:])
        }
    }

    @Test func aRequestToAnSRVTargetConnectsThereWhileHostStaysTheServers() async throws {
        try await Identity.run { identity in
            let real = HomeserverResolver.fetcher(http: HTTPClient.shared, verifyTLS: true)
            let resolver = HomeserverResolver(
                override: nil,
                fetch: { request, connectTo in
                    // No .well-known (the name has no address to ask); the rest goes out for real.
                    if request.url.hasSuffix("/.well-known/matrix/server") { return (404, ByteBuffer()) }
                    return try await real(request, connectTo)
                },
                serviceRecords: { name in
                    name == "_matrix-fed._tcp.fed.invalid" ? [ServiceRecord(priority: 0, weight: 0, port: UInt16(identity.homeserver.port), target: "127.0.0.1")] : []
                })
            // fed.invalid has no address at all (RFC 6761): only the SRV target is reachable.
            let base = await resolver.baseURL(for: "fed.invalid", logger: Logger(label: "t"))
            #expect(base == "https://fed.invalid:\(identity.homeserver.port)")
            let (status, body) = try await resolver.fetch(
                HTTPClientRequest(url: base.replacingOccurrences(of: "https://", with: "http://") + "/_test/host"))
            #expect(status == 200)
            #expect(String(buffer: body) == "fed.invalid")
        }
    }

    @Test func addressesAreCaseFoldedAsSydentFoldsThem() async throws {
        try await Identity.run { identity in
            // Full case folding, not just lower case: ß is ss and a final ς is σ (Python's
            // casefold, which sydent uses and its exported data holds).
            let bound = try await identity.bind("Straße.ΟΔΥΣΣΕΥΣ@Example.org", to: "@odysseus:example.org")
            #expect(bound.json?["address"] == "strasse.οδυσσευσ@example.org", "\(bound.text)")
            for typed in ["STRASSE.οδυσσευς@example.org", "strasse.ΟΔΥΣΣΕΥΣ@EXAMPLE.ORG", "Straße.Οδυσσευς@example.org"] {
                let query = typed.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let lookup = try await identity.call(.GET, Self.v1 + "/lookup?medium=email&address=\(query)")
                #expect(lookup.json?["mxid"] == "@odysseus:example.org", "\(typed): \(lookup.text)")
            }
        }
    }

    @Test func theUsersHomeserverUnbindsWithItsSignature() async throws {
        try await Identity.run { identity in
            let mxid = "@dora:\(FakeHomeserver.name)"
            try await identity.bind("Dora@example.org", to: mxid)
            let body: JSONValue = ["mxid": .string(mxid), "threepid": ["medium": "email", "address": "dora@example.org"]]
            for version in [Identity.v2, Self.v1] {
                let uri = version + "/3pid/unbind"
                let forged = identity.homeserver.xMatrix(
                    method: "POST", uri: uri, destination: "id.example.org", content: body, key: Curve25519.Signing.PrivateKey())
                let refused = try await identity.call(.POST, uri, json: body, headers: [("Authorization", forged)])
                #expect(refused.status == 401 && refused.json?["errcode"] == "M_UNAUTHORIZED", "\(refused.text)")
                let elsewhere = identity.homeserver.xMatrix(method: "POST", uri: uri, destination: "other.example.org", content: body)
                #expect(try await identity.call(.POST, uri, json: body, headers: [("Authorization", elsewhere)]).status == 401)
                let otherUser: JSONValue = ["mxid": "@dora:other.example.org", "threepid": ["medium": "email", "address": "dora@example.org"]]
                let notTheirs = identity.homeserver.xMatrix(method: "POST", uri: uri, destination: "id.example.org", content: otherUser)
                let foreign = try await identity.call(.POST, uri, json: otherUser, headers: [("Authorization", notTheirs)])
                #expect(foreign.status == 403 && foreign.json?["errcode"] == "M_FORBIDDEN")
            }
            #expect(try await identity.call(.GET, Self.v1 + "/lookup?medium=email&address=dora%40example.org").json?["mxid"]?.stringValue == mxid)

            // Synapse sends v2 with its signature and no bearer token.
            let uri = Identity.v2 + "/3pid/unbind"
            let signed = identity.homeserver.xMatrix(method: "POST", uri: uri, destination: "id.example.org", content: body)
            let unbound = try await identity.call(.POST, uri, json: body, headers: [("Authorization", signed)])
            #expect(unbound.status == 200 && unbound.json == [:], "\(unbound.text)")
            #expect(try await identity.call(.GET, Self.v1 + "/lookup?medium=email&address=dora%40example.org").json == [:])
        }
    }

    @Test func aSignatureTheHomeserversKeyDocumentCannotBackIsRefused() async throws {
        try await Identity.run { identity in
            let mxid = "@eve:\(FakeHomeserver.name)"
            try await identity.bind("eve@example.org", to: mxid)
            let body: JSONValue = ["mxid": .string(mxid), "threepid": ["medium": "email", "address": "eve@example.org"]]
            let uri = Self.v1 + "/3pid/unbind"
            let signed = identity.homeserver.xMatrix(method: "POST", uri: uri, destination: "id.example.org", content: body)
            // Key documents that must not be believed: another key's self-signature,
            // past their valid_until_ts, or none at all. Failures are not remembered.
            for fault in [FakeHomeserver.KeyDocumentFault.signedByAnotherKey, .expired, .notFound] {
                identity.homeserver.keyDocumentFault.withLock { $0 = fault }
                let refused = try await identity.call(.POST, uri, json: body, headers: [("Authorization", signed)])
                #expect(refused.status == 401 && refused.json?["errcode"] == "M_UNAUTHORIZED", "\(fault): \(refused.text)")
            }
            // Headers that are not a signature at all.
            for header in ["X-Matrix key=\"ed25519:hs1\"", "X-Matrix origin=hs.example.org", #"X-Matrix origin=hs.example.org,key="rsa:1",sig="x""#] {
                let refused = try await identity.call(.POST, uri, json: body, headers: [("Authorization", header)])
                #expect(refused.status == 401, "\(header): \(refused.text)")
            }
            #expect(try await identity.call(.GET, Self.v1 + "/lookup?medium=email&address=eve%40example.org").json?["mxid"]?.stringValue == mxid)
            identity.homeserver.keyDocumentFault.withLock { $0 = nil }
            #expect(try await identity.call(.POST, uri, json: body, headers: [("Authorization", signed)]).status == 200)
        }
    }

    @Test func aHomeserverThatRefusesOnbindIsNotAskedAgain() async throws {
        try await Identity.run { identity in
            identity.homeserver.onBindAnswer.withLock { $0 = .badRequest }
            try await identity.bind("fay@example.org", to: "@fay:example.org")
            // Delivered (refused) once, then never retried: a 4xx will not get better.
            var row: (Int, Bool)?
            for _ in 0..<100 {
                let rows = try await identity.database.query(
                    "SELECT attempts, sent_at IS NOT NULL FROM onbind_outbox", logger: Logger(label: "test"))
                for try await found in rows.decode((Int, Bool).self) { row = found }
                if row?.1 == true { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(row?.0 == 1 && row?.1 == true)
            try await Task.sleep(for: .milliseconds(1200))
            #expect(identity.homeserver.onBindCalls.withLock { $0 } == 1)
        }
    }

    @Test func unbindRefusesAnotherAddressesSessionOrNoProof() async throws {
        try await Identity.run { identity in
            try await identity.bind("victim@example.org", to: "@victim:example.org")
            let sid = try await identity.validated("attacker@example.org", secret: "evil")
            let other = try await identity.call(
                .POST, Self.v1 + "/3pid/unbind",
                json: ["sid": .string(sid), "client_secret": "evil", "mxid": "@victim:example.org",
                       "threepid": ["medium": "email", "address": "victim@example.org"]])
            #expect(other.status == 403)
            #expect(other.json?["errcode"] == "M_FORBIDDEN")
            let noProof = try await identity.call(
                .POST, Self.v1 + "/3pid/unbind",
                json: ["mxid": "@victim:example.org", "threepid": ["medium": "email", "address": "victim@example.org"]])
            #expect(noProof.status == 403)
            let lookup = try await identity.call(.GET, Self.v1 + "/lookup?medium=email&address=victim%40example.org")
            #expect(lookup.json?["mxid"] == "@victim:example.org")
        }
    }
}
