import Foundation
import Logging
import PostgresNIO
import SuiteCore

/// The SQL of documents.
struct DocumentStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    private static let columns = "id, user_id, file_path, document_type, uploaded_at"

    /// Saves `path` as `owner`'s; nil when that path is saved already.
    func save(owner: UUID, path: String, type: String, on connection: PostgresConnection) async throws -> Document? {
        let rows = try await connection.sql(
            """
            INSERT INTO documents (id, user_id, file_path, document_type) VALUES (\(UUID()), \(owner), \(path), \(type))
            ON CONFLICT (file_path) DO NOTHING RETURNING id, user_id, file_path, document_type, uploaded_at
            """, logger: logger)
        return try await Self.documents(rows).first
    }

    func find(_ id: UUID) async throws -> Document? {
        try await Self.documents(database.sql("SELECT \(unescaped: Self.columns) FROM documents WHERE id = \(id)", logger: logger)).first
    }

    func find(path: String) async throws -> Document? {
        try await Self.documents(
            database.sql("SELECT \(unescaped: Self.columns) FROM documents WHERE file_path = \(path)", logger: logger)
        ).first
    }

    /// Deletes the link when `owner` is nil (an admin) or owns it.
    func unlink(_ id: UUID, owner: UUID?) async throws -> Bool {
        let rows = try await database.sql(
            "DELETE FROM documents WHERE id = \(id) AND (\(owner)::uuid IS NULL OR user_id = \(owner)) RETURNING id", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// One page of `owner`'s documents, oldest first, and how many there are.
    func list(owner: UUID, page: PageRequest) async throws -> (documents: [Document], total: Int) {
        let documents = try await Self.documents(
            database.sql(
                """
                SELECT \(unescaped: Self.columns) FROM documents WHERE user_id = \(owner)
                ORDER BY uploaded_at, id LIMIT \(page.size) OFFSET \(page.offset)
                """, logger: logger))
        if page.page == 1 && documents.count < page.size { return (documents, documents.count) }
        var total = 0
        for try await count in try await database.sql("SELECT count(*) FROM documents WHERE user_id = \(owner)", logger: logger)
            .decode(Int.self)
        {
            total = count
        }
        return (documents, total)
    }

    private static func documents(_ rows: PostgresRowSequence) async throws -> [Document] {
        var result: [Document] = []
        for try await (id, user, path, type, uploaded) in rows.decode((UUID, UUID, String, String, Date).self) {
            result.append(Document(id: id, userID: user, filePath: path, documentType: type, uploadedAt: uploaded))
        }
        return result
    }
}
