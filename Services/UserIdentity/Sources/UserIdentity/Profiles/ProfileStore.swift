import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of profiles.
struct ProfileStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    func find(_ user: UUID) async throws -> [String: JSONValue]? {
        try await first(database.sql("SELECT document::text FROM profiles WHERE user_id = \(user)", logger: logger))
    }

    /// The profile, locked for the rest of `connection`'s transaction.
    func lock(_ user: UUID, on connection: PostgresConnection) async throws -> [String: JSONValue]? {
        try await first(connection.sql("SELECT document::text FROM profiles WHERE user_id = \(user) FOR UPDATE", logger: logger))
    }

    private func first(_ rows: PostgresRowSequence) async throws -> [String: JSONValue]? {
        for try await text in rows.decode(String.self) { return try JSONParser.parse(Array(text.utf8)).objectValue }
        return nil
    }

    func save(_ user: UUID, document: [String: JSONValue], on connection: PostgresConnection) async throws {
        try await connection.sql(
            """
            INSERT INTO profiles (user_id, document) VALUES (\(user), \(CanonicalJSON.string(.object(document)))::jsonb)
            ON CONFLICT (user_id) DO UPDATE SET document = EXCLUDED.document, updated_at = now()
            """, logger: logger)
    }
}
