import Foundation
import Logging
import PostgresNIO

/// The SQL of v2 accounts: their bearer tokens (kept as SHA-256) and accepted terms.
struct AccountStore: Sendable {
    let database: PostgresClient

    typealias Found = (userID: String, accepted: [String], generation: AssociationIndex.Generation, pepper: String)

    /// The accounts behind many token hashes in one statement, with their accepted terms,
    /// the associations' generation and the lookup pepper (a v2 request needs them all).
    func accounts(byTokenHashes hashes: [[UInt8]], logger: Logger) async throws -> [[UInt8]: Found] {
        var found: [[UInt8]: Found] = [:]
        let rows = try await database.sql(AccountsByTokens(hashes: hashes.map { ByteBuffer(bytes: $0) }), logger: logger)
        for try await (hash, userID, accepted, generation, pruned, pepper) in rows {
            found[Array(buffer: hash)] = (userID, accepted, AssociationIndex.Generation(value: generation, prunedThrough: pruned), pepper)
        }
        return found
    }

    /// The account (made on its first registration) and a new token for it.
    func register(userID: String, tokenHash: [UInt8], logger: Logger) async throws {
        try await database.withRequestTransaction(logger: logger) { connection in
            try await connection.sql("INSERT INTO accounts (user_id) VALUES (\(userID)) ON CONFLICT DO NOTHING", logger: logger)
            try await connection.sql(
                "INSERT INTO account_tokens (token_hash, user_id) VALUES (\(ByteBuffer(bytes: tokenHash)), \(userID))", logger: logger)
        }
    }

    func deleteToken(hash: [UInt8], logger: Logger) async throws {
        try await database.sql("DELETE FROM account_tokens WHERE token_hash = \(ByteBuffer(bytes: hash))", logger: logger)
    }

    func accept(terms urls: [String], by userID: String, logger: Logger) async throws {
        try await database.sql(
            """
            INSERT INTO accepted_terms (user_id, url) SELECT \(userID), unnest(\(urls)::text[])
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }
}

/// A prepared statement: the accounts (and accepted terms) behind many token hashes.
struct AccountsByTokens: PostgresPreparedStatement {
    static let name = "identity_accounts_by_tokens"
    static let sql = """
        SELECT t.token_hash, t.user_id, ARRAY(SELECT url FROM accepted_terms a WHERE a.user_id = t.user_id),
            g.value, g.pruned_through, m.lookup_pepper
        FROM account_tokens t, association_generation g, hashing_metadata m WHERE t.token_hash = ANY($1) AND g.id = 1 AND m.id = 1
        """
    typealias Row = (ByteBuffer, String, [String], Int64, Int64, String)

    var hashes: [ByteBuffer]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(hashes)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
