import Logging
import PostgresNIO
import SuiteCore
import Testing

@testable import SuitePostgres

@Suite struct RequestTransactionTests {
    static func count(_ client: PostgresClient) async throws -> Int {
        for try await n in try await client.query("SELECT count(*)::int FROM notes", logger: logger).decode(Int.self) { return n }
        return -1
    }

    /// A transaction that reaches its commit after its request's deadline (its caller was
    /// answered 503 by then) rolls back: the client told "failed" never finds the write.
    @Test func aTransactionPastItsRequestsDeadlineRollsBackInsteadOfCommitting() async throws {
        try await withDatabase(schema: "tx") { client, _ in
            try await client.query("CREATE SCHEMA IF NOT EXISTS tx", logger: logger)
            try await client.query("CREATE TABLE tx.notes (body text)", logger: logger)
            await #expect(throws: (any Error).self) {
                try await RequestDeadline.$current.withValue(.now + .milliseconds(50)) {
                    try await client.withRequestTransaction(logger: logger) { connection in
                        try await connection.query("INSERT INTO notes VALUES ('late')", logger: logger)
                        try? await Task.sleep(for: .milliseconds(150))  // the deadline passes meanwhile
                    }
                }
            }
            #expect(try await Self.count(client) == 0)

            // In time, or outside any request, it commits as withTransaction does.
            try await RequestDeadline.$current.withValue(.now + .seconds(30)) {
                try await client.withRequestTransaction(logger: logger) { connection in
                    try await connection.query("INSERT INTO notes VALUES ('in time')", logger: logger)
                }
            }
            try await client.withRequestTransaction(logger: logger) { connection in
                try await connection.query("INSERT INTO notes VALUES ('no request')", logger: logger)
            }
            #expect(try await Self.count(client) == 2)
        }
    }
}
