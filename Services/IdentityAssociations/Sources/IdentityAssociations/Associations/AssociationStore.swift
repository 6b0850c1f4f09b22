import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of associations: binding (with the invitations waiting for the address and
/// the homeserver's `onbind` notice, in one transaction), removal, lookups by address
/// and by v2 hash, and the v2 pepper.
struct AssociationStore: Sendable {
    let database: PostgresClient

    /// The v2 lookup pepper. It lives in PostgreSQL alone, so a pepper an import or an
    /// operator changed holds on every replica at once.
    func pepper(logger: Logger) async throws -> String {
        let rows = try await database.sql("SELECT lookup_pepper FROM hashing_metadata WHERE id = 1", logger: logger)
        for try await pepper in rows.decode(String.self) { return pepper }
        throw AppError.internalError
    }

    /// An invitation that waited for the address, now delivered to its new owner.
    struct DeliveredInvite: Sendable {
        let roomID: String
        let sender: String
        let token: String
    }

    /// Binds the address to `mxid` (replacing an earlier binding), delivers the invites
    /// waiting for it (once), and queues `answer(invites)` (the signed association) for
    /// the homeserver's `3pid/onbind` when there is one; returns that answer.
    func bind(
        medium: String, address: String, mxid: String, lookupHash: String, ts: Int64, notAfter: Int64, homeserver: String?,
        logger: Logger, answer: @Sendable ([DeliveredInvite]) -> [UInt8]
    ) async throws -> [UInt8] {
        try await database.withRequestTransaction(logger: logger) { connection in
            try await connection.sql(
                """
                INSERT INTO associations (medium, address, mxid, lookup_hash, ts, not_before, not_after)
                VALUES (\(medium), \(address), \(mxid), \(lookupHash), \(ts), \(ts), \(notAfter))
                ON CONFLICT (medium, address) DO UPDATE SET
                    mxid = EXCLUDED.mxid, lookup_hash = EXCLUDED.lookup_hash, ts = EXCLUDED.ts,
                    not_before = EXCLUDED.not_before, not_after = EXCLUDED.not_after
                """, logger: logger)
            let rows = try await connection.sql(
                """
                UPDATE pending_invites SET delivered_to = \(mxid), delivered_at = now()
                WHERE medium = \(medium) AND address = \(address) AND delivered_at IS NULL
                RETURNING room_id, sender, token
                """, logger: logger)
            var invites: [DeliveredInvite] = []
            for try await (room, sender, token) in rows.decode((String, String, String).self) {
                invites.append(DeliveredInvite(roomID: room, sender: sender, token: token))
            }
            let signed = answer(invites)
            if let homeserver {
                try await connection.sql(
                    "INSERT INTO onbind_outbox (server, body) VALUES (\(homeserver), \(String(decoding: signed, as: UTF8.self)))", logger: logger)
            }
            return signed
        }
    }

    /// Removes the binding of the address to `mxid`; false when there is none.
    func remove(medium: String, address: String, mxid: String, logger: Logger) async throws -> Bool {
        let rows = try await database.sql(
            "DELETE FROM associations WHERE medium = \(medium) AND address = \(address) AND mxid = \(mxid) RETURNING 1", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// The mxid of each bound (medium, address) among `keys`, in one statement.
    func mxids(of keys: [AssociationIndex.Key], logger: Logger) async throws -> [AssociationIndex.Key: String] {
        var found: [AssociationIndex.Key: String] = [:]
        let rows = try await database.sql(LookupMany(media: keys.map(\.medium), addresses: keys.map(\.address)), logger: logger)
        for try await (medium, address, mxid, _, _, _) in rows { found[AssociationIndex.Key(medium: medium, address: address)] = mxid }
        return found
    }

    /// The bound ones among v2 hashes as the JSON object `{hash: mxid}`, written by PostgreSQL.
    func mappings(ofHashes hashes: [String], logger: Logger) async throws -> String {
        let rows = try await database.sql(LookupHashes(hashes: hashes), logger: logger)
        for try await object in rows { return object }
        return "{}"
    }
}

/// A prepared statement: the bound ones among many v2 hashes as a JSON object
/// `{hash: mxid}`, from an index-only scan of (lookup_hash) INCLUDE (mxid).
struct LookupHashes: PostgresPreparedStatement {
    static let name = "identity_lookup_hashes"
    static let sql = "SELECT COALESCE(json_object_agg(lookup_hash, mxid), '{}')::text FROM associations WHERE lookup_hash = ANY($1)"
    typealias Row = String

    var hashes: [String]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(hashes)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
