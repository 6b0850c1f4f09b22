import Foundation
import Logging
import PostgresNIO
import SuiteCore
import SuiteSigning
import SuiteTesting
import Testing

@testable import IdentityAssociations

/// Lookups answer from an in-memory index; these check it is never behind PostgreSQL.
@Suite struct LookupIndexTests {
    static let v1 = Identity.v1

    func lookup(_ base: String, _ address: String, via identity: Identity? = nil) async throws -> JSONValue? {
        let url = base + Self.v1 + "/lookup?medium=email&address=\(address.replacingOccurrences(of: "@", with: "%40"))"
        if let identity { return try await identity.client.send(.GET, url).json }
        return try await send(.GET, url).json
    }

    @Test func whatOneReplicaBindsOrUnbindsTheOtherAnswersAtOnce() async throws {
        try await Identity.run(replicas: 2) { identity in
            let other = try #require(identity.replicas.first)
            let token = try await identity.register("@carol:127.0.0.1")
            let pepper = try #require(try await identity.call(.GET, Identity.v2 + "/hash_details", token: token).json?["lookup_pepper"]?.stringValue)
            let hash = Associations.lookupHash(address: "ann@example.org", medium: "email", pepper: pepper)
            // Several rounds: the first ones may be answered by PostgreSQL while the other
            // replica's index loads, the later ones from the index.
            for round in 0..<4 {
                let secret = "round\(round)"
                let mxid = "@ann\(round):example.org"
                let bound = try await identity.bind("ann@example.org", to: mxid, secret: secret)
                #expect(bound.status == 200, "\(bound.text)")
                #expect(try await lookup(other, "Ann@example.org")?["mxid"]?.stringValue == mxid)
                let bulk = try await send(.POST, other + Self.v1 + "/bulk_lookup", json: ["threepids": [["email", "ann@example.org"]]])
                #expect(bulk.json == ["threepids": [["email", "ann@example.org", .string(mxid)]]])
                let hashed = try await send(
                    .POST, other + Identity.v2 + "/lookup", json: ["addresses": [.string(hash)], "algorithm": "sha256", "pepper": .string(pepper)],
                    token: token)
                #expect(hashed.json == ["mappings": [hash: .string(mxid)]])

                let sid = try await identity.validated("ann@example.org", secret: secret + "-unbind")
                let unbind = try await identity.call(
                    .POST, Self.v1 + "/3pid/unbind",
                    json: ["sid": .string(sid), "client_secret": .string(secret + "-unbind"), "mxid": .string(mxid),
                           "threepid": ["medium": "email", "address": "ann@example.org"]])
                #expect(unbind.status == 200, "\(unbind.text)")
                #expect(try await lookup(other, "ann@example.org") == [:])
                let none = try await send(
                    .POST, other + Identity.v2 + "/lookup", json: ["addresses": [.string(hash)], "algorithm": "sha256", "pepper": .string(pepper)],
                    token: token)
                #expect(none.json == ["mappings": [:]])
            }
        }
    }

    /// `/metrics` shows the index: its entries, and how far it is behind PostgreSQL
    /// between lookups (a lookup brings it up to date).
    @Test func metricsShowTheIndexAndItsLag() async throws {
        try await Identity.run { identity in
            func value(_ name: String) async throws -> Double? {
                let text = try await identity.client.send(.GET, identity.base + "/metrics").text
                return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.dropFirst(name.count + 1)) }
            }
            let ann = try await identity.bind("ann@example.org", to: "@ann:example.org")
            #expect(ann.status == 200)
            let found = try await lookup(identity.base, "ann@example.org", via: identity)
            #expect(found?["mxid"] == "@ann:example.org")
            // The first lookup is answered by PostgreSQL while the index loads beside it.
            var loaded = try await value("is_lookup_index_entries")
            for _ in 0..<100 where loaded == nil {
                try await Task.sleep(for: .milliseconds(50))
                loaded = try await value("is_lookup_index_entries")
            }
            let entries = loaded, lag = try await value("is_lookup_index_generation_lag")
            let memory = try await value("is_lookup_index_memory_bytes")
            #expect(entries == 1 && lag == 0 && (memory ?? 0) > 0, "\(String(describing: entries)) \(String(describing: lag))")
            // Bound but not looked up yet: the index is behind, until a lookup.
            let bob = try await identity.bind("bob@example.org", to: "@bob:example.org", secret: "bobs_secret")
            #expect(bob.status == 200)
            let behind = try await value("is_lookup_index_generation_lag")
            #expect((behind ?? 0) >= 1, "\(String(describing: behind))")
            let bobFound = try await lookup(identity.base, "bob@example.org", via: identity)
            #expect(bobFound?["mxid"] == "@bob:example.org")
            let caughtUp = try await value("is_lookup_index_generation_lag"), both = try await value("is_lookup_index_entries")
            #expect(caughtUp == 0 && both == 2, "\(String(describing: caughtUp)) \(String(describing: both))")
        }
    }

    /// The index of a fresh reader, once it has loaded.
    func loaded(_ index: AssociationIndex, logger: Logger) async throws -> Int {
        for _ in 0..<500 {
            if let count = try await index.read(logger: logger, { $0.table.count }) { return count }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HarnessError.unexpected("the lookup index never loaded")
    }

    @Test func theIndexFollowsEveryChangeIncludingAnOperatorsSQLAndReloadsAfterPruning() async throws {
        try await Identity.run { identity in
            let logger = Logger(label: "test")
            let database = identity.database
            try await identity.bind("first@example.org", to: "@first:example.org")
            let index = AssociationIndex(database: database)
            #expect(try await index.read(logger: logger) { $0.table.count } == nil, "not loaded before its first use")
            #expect(try await loaded(index, logger: logger) == 1)

            // An operator's import: one statement, a thousand rows, seen by the next read.
            try await database.query(
                """
                INSERT INTO associations (medium, address, mxid, lookup_hash, ts, not_before, not_after)
                SELECT 'email', 'user' || g || '@example.org', '@user' || g || ':example.org',
                    rtrim(translate(encode(sha256(convert_to('user' || g || '@example.org email ' || p.lookup_pepper, 'UTF8')), 'base64'), '+/', '-_'), '='),
                    1, 1, 2
                FROM generate_series(1, 1000) g, hashing_metadata p
                """, logger: logger)
            var pepper = ""
            for try await value in try await database.query("SELECT lookup_pepper FROM hashing_metadata", logger: logger).decode(String.self) {
                pepper = value
            }
            func hash(_ address: String) throws -> AssociationIndex.HashKey {
                try #require(AssociationIndex.HashKey(Associations.lookupHash(address: address, medium: "email", pepper: pepper)))
            }
            let user7 = try hash("user7@example.org"), user8 = try hash("user8@example.org"), moved = try hash("moved@example.org")
            #expect(try await index.read(logger: logger) { ($0.table.count, $0.table[user7]) }.map { "\($0.0) \($0.1 ?? "")" }
                == "1001 @user7:example.org")

            let movedHash = Associations.lookupHash(address: "moved@example.org", medium: "email", pepper: pepper)
            try await database.query(
                "UPDATE associations SET mxid = '@moved:example.org', lookup_hash = \(movedHash) WHERE address = 'user7@example.org'",
                logger: logger)
            try await database.query("DELETE FROM associations WHERE address = 'user8@example.org'", logger: logger)
            let after = try #require(try await index.read(logger: logger) { contents in
                (contents.table.count, contents.table[user7], contents.table[moved], contents.table[user8],
                 contents.table.entry(AssociationIndex.Key(medium: "email", address: "user7@example.org"))?.mxid)
            })
            #expect(after.0 == 1000 && after.1 == nil && after.2 == "@moved:example.org" && after.3 == nil && after.4 == "@moved:example.org")

            // Pruning keeps a replica that is up to date as it is…
            try await AssociationIndex.prune(database: database, retentionSeconds: 0, logger: logger)
            #expect(try await index.read(logger: logger) { $0.table.count } == 1000)
            // …and one that missed pruned changes reloads everything (PostgreSQL answers meanwhile).
            let behind = AssociationIndex(database: database)
            #expect(try await loaded(behind, logger: logger) == 1000)
            try await database.query("DELETE FROM associations WHERE address = 'user9@example.org'", logger: logger)
            try await AssociationIndex.prune(database: database, retentionSeconds: 0, logger: logger)
            #expect(try await behind.read(logger: logger) { $0.table.count } == nil)
            #expect(try await loaded(behind, logger: logger) == 999)
            #expect(try await index.read(logger: logger) { $0.table.count } == nil)
            #expect(try await loaded(index, logger: logger) == 999)
        }
    }

    @Test func hashKeysReadUnpaddedBase64URLOfThirtyTwoBytesOnly() throws {
        let hash = Associations.lookupHash(address: "alice@example.com", medium: "email", pepper: "matrixrocks")
        let key = try #require(AssociationIndex.HashKey(hash))
        #expect(AssociationIndex.HashKey(String(hash)) == key)
        var bytes = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes(of: key.words) { for index in 0..<32 { bytes[index] = $0[index] } }
        #expect(Base64URL.encode(bytes) == hash)
        var text: [UInt8] = []
        key.appendMember(prefix: false, to: &text)
        key.appendMember(prefix: true, to: &text)
        #expect(String(decoding: text, as: UTF8.self) == "\"\(hash)\":,\"\(hash)\":")
        #expect(AssociationIndex.HashKey(Associations.lookupHash(address: "bob@example.com", medium: "email", pepper: "matrixrocks")) != key)
        // The last character carries 4 bits and two spare ones: only its canonical
        // form (spare bits clear) is a key, so every key has one text.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let offset = try #require(alphabet.firstIndex(of: hash.last!))
        #expect(offset & 3 == 0)
        let nonCanonical = String(hash.dropLast()) + String(alphabet[offset | 1])
        for bad in ["", "hash7", String(hash.dropLast()), hash + "A", String(hash.dropLast()) + "=", String(hash.dropLast()) + "+", nonCanonical] {
            #expect(AssociationIndex.HashKey(bad) == nil, "\(bad)")
        }
        // Every 32 bytes read back from their text.
        for _ in 0..<200 {
            let random = (0..<32).map { _ in UInt8.random(in: 0...255) }
            let decoded = try #require(AssociationIndex.HashKey(Base64URL.encode(random)))
            var bytes = [UInt8](repeating: 0, count: 32)
            withUnsafeBytes(of: decoded.words) { for index in 0..<32 { bytes[index] = $0[index] } }
            #expect(bytes == random)
            var text: [UInt8] = []
            decoded.appendMember(prefix: false, to: &text)
            #expect(String(decoding: text, as: UTF8.self) == "\"\(Base64URL.encode(random))\":")
        }
    }

    @Test func withTheIndexOffPostgreSQLAnswersEveryLookup() async throws {
        try await Identity.run(configure: { $0.lookupIndex = false }) { identity in
            try await identity.bind("Bo@example.org", to: "@bo:example.org")
            #expect(try await lookup(identity.base, "bo@EXAMPLE.org", via: identity)?["mxid"] == "@bo:example.org")
            let bulk = try await identity.call(.POST, Self.v1 + "/bulk_lookup", json: ["threepids": [["email", "BO@example.org"], ["email", "x@y.z"]]])
            #expect(bulk.json == ["threepids": [["email", "BO@example.org", "@bo:example.org"]]])
        }
    }
}
