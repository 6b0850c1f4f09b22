import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import SuitePostgres

@Suite struct LeasedOutboxTests {
    /// A fresh database holding an outbox table `notes_outbox` with a `body` payload.
    func withOutbox(_ body: @Sendable (PostgresClient, Logger) async throws -> Void) async throws {
        try await withDatabase { database, _ in
            let logger = Logger(label: "t")
            try await database.query("CREATE SCHEMA svc", logger: logger)
            for statement in LeasedOutbox.tableSQL("notes_outbox", payload: ["body text NOT NULL"]).split(separator: ";")
            where !statement.allSatisfy(\.isWhitespace) {
                try await database.query(PostgresQuery(unsafeSQL: String(statement)), logger: logger)
            }
            try await body(database, logger)
        }
    }

    @Test func pickingDueRowsReadsTheWaitingRowsNotEverythingEverSent() async throws {
        try await withOutbox { database, logger in
            // A long-lived outbox after a burst: 20,000 rows sent, 2,000 waiting.
            try await database.query(
                """
                INSERT INTO notes_outbox (body, sent_at, next_attempt_at)
                SELECT 'sent ' || g, now() - interval '1 day', now() - interval '1 day' FROM generate_series(1, 20000) g
                """, logger: logger)
            try await database.query(
                "INSERT INTO notes_outbox (body) SELECT 'waiting ' || g FROM generate_series(1, 2000) g", logger: logger)
            try await database.query("ANALYZE notes_outbox", logger: logger)

            let plan = try await database.query(
                PostgresQuery(unsafeSQL: "EXPLAIN (ANALYZE, FORMAT JSON) " + LeasedOutbox.dueRowsSQL("notes_outbox", batchSize: 20)),
                logger: logger)
            var text = ""
            for try await line in plan.decode(String.self) { text += line }
            // The pick walks the index of waiting rows and looks at no sent row.
            #expect(text.contains("\"Index Name\": \"notes_outbox_due\""), "\(text)")
            let removed = text.matches(of: /"Rows Removed by Filter": (\d+)/).compactMap { Int($0.output.1) }
            #expect(removed.allSatisfy { $0 < 100 }, "\(text)")

            let outbox = LeasedOutbox(table: "notes_outbox", payload: "body", database: database, logger: logger)
            let claimed = try await outbox.claimDue { try $0[0].decode(String.self) }
            #expect(claimed.count == 20)
            #expect(claimed.allSatisfy { $0.payload.hasPrefix("waiting ") })
        }
    }

    @Test func purgingDeletesOnlyWhatWasDeliveredLongEnoughAgo() async throws {
        try await withOutbox { database, logger in
            // More old rows than one slice holds, then one of each kind that must stay.
            try await database.query(
                "INSERT INTO notes_outbox (body, sent_at) SELECT 'old ' || g, now() - interval '2 days' FROM generate_series(1, 12000) g",
                logger: logger)
            try await database.query(
                """
                INSERT INTO notes_outbox (body, sent_at, failed_at) VALUES
                    ('sent an hour ago', now() - interval '1 hour', NULL), ('waiting', NULL, NULL),
                    ('given up long ago', NULL, now() - interval '30 days')
                """, logger: logger)
            let purged = try await LeasedOutbox.purgeDelivered("notes_outbox", olderThanSeconds: 86_400, database: database, logger: logger)
            #expect(purged == 12_000)
            var left: [String] = []
            for try await body in try await database.query("SELECT body FROM notes_outbox ORDER BY id", logger: logger).decode(String.self) {
                left.append(body)
            }
            #expect(left == ["sent an hour ago", "waiting", "given up long ago"])
        }
    }

    @Test func purgingKeepsTheRowsAnotherTableStillRefersTo() async throws {
        try await withOutbox { database, logger in
            try await database.query(
                "INSERT INTO notes_outbox (body, sent_at) SELECT 'old ' || g, now() - interval '2 days' FROM generate_series(1, 5) g",
                logger: logger)
            try await database.query("CREATE TABLE referrers (note_id bigint)", logger: logger)
            try await database.query(
                "INSERT INTO referrers SELECT id FROM notes_outbox WHERE body IN ('old 2', 'old 4')", logger: logger)
            let purged = try await LeasedOutbox.purgeDelivered(
                "notes_outbox", olderThanSeconds: 86_400, keeping: "SELECT note_id FROM referrers", database: database, logger: logger)
            #expect(purged == 3)
            var left: [String] = []
            for try await body in try await database.query("SELECT body FROM notes_outbox ORDER BY id", logger: logger).decode(String.self) {
                left.append(body)
            }
            #expect(left == ["old 2", "old 4"])
        }
    }

    /// A row marked sent inside the caller's transaction counts as delivered only once
    /// that transaction committed: a rollback delivered nothing.
    @Test func aRowMarkedSentInATransactionCountsOnlyOnceItCommitted() async throws {
        final class Counts: OutboxObserver {
            let delivered = Mutex(0)
            func delivered(_ count: Int, outbox: String) { delivered.withLock { $0 += count } }
            func failed(outbox: String, givenUp: Bool) {}
        }
        try await withOutbox { database, logger in
            try await database.query("INSERT INTO notes_outbox (body) VALUES ('a'), ('b')", logger: logger)
            let counts = Counts()
            let outbox = LeasedOutbox(table: "notes_outbox", payload: "body", database: database, logger: logger, observer: counts)
            let claimed = try await outbox.claimDue { try $0[0].decode(String.self) }
            #expect(claimed.count == 2)
            struct Abandoned: Error {}
            await #expect(throws: PostgresTransactionError.self) {
                try await database.withTransaction(logger: logger) { connection in
                    try await outbox.markSent([claimed[0].id], on: connection)
                    throw Abandoned()
                }
            }
            #expect(counts.delivered.withLock { $0 } == 0, "rolled back")
            try await database.withTransaction(logger: logger) { connection in
                try await outbox.markSent([claimed[1].id], on: connection)
            }
            outbox.committed(1)
            #expect(counts.delivered.withLock { $0 } == 1)
            let sent = try await database.query("SELECT body FROM notes_outbox WHERE sent_at IS NOT NULL", logger: logger).collect()
            #expect(try sent.map { try $0.decode(String.self) } == ["b"])
        }
    }
}
