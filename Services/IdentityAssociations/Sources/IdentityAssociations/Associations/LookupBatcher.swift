import Logging
import PostgresNIO
import SuitePostgres

/// v1 lookups, coalesced: concurrent single-address lookups become one `LookupMany`.
struct LookupBatcher: Sendable {
    struct Key: Hashable, Sendable {
        var medium: String
        var address: String
    }

    typealias Found = (mxid: String, ts: Int64, notBefore: Int64, notAfter: Int64)

    private let batcher: QueryBatcher<Key, Found>

    init(database: PostgresClient) {
        batcher = QueryBatcher { keys, logger in
            var found: [Key: Found] = [:]
            found.reserveCapacity(keys.count)
            let rows = try await database.sql(LookupMany(media: keys.map(\.medium), addresses: keys.map(\.address)), logger: logger)
            for try await (medium, address, mxid, ts, notBefore, notAfter) in rows {
                found[Key(medium: medium, address: address)] = (mxid, ts, notBefore, notAfter)
            }
            return found
        }
    }

    func lookup(medium: String, address: String, logger: Logger) async throws -> Found? {
        try await batcher.load(Key(medium: medium, address: address), logger: logger)
    }
}

/// A prepared statement: the associations of many (medium, address) pairs.
struct LookupMany: PostgresPreparedStatement {
    static let name = "identity_lookup_many"
    static let sql = """
        SELECT a.medium, a.address, a.mxid, a.ts, a.not_before, a.not_after
        FROM unnest($1::text[], $2::text[]) AS q(medium, address)
        JOIN associations a ON a.medium = q.medium AND a.address = q.address
        """
    typealias Row = (String, String, String, Int64, Int64, Int64)

    var media: [String]
    var addresses: [String]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(media)
        bindings.append(addresses)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
