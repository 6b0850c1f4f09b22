import Logging
import PostgresNIO
import SuiteCore
import Testing

@testable import SuitePostgres

@Suite struct DoorbellTests {
    @Test func aRingWhileNobodyWaitsIsKeptForTheNextWaitOnce() async {
        let doorbell = Doorbell()
        doorbell.ring()
        doorbell.ring()
        #expect(await doorbell.wait(upTo: .seconds(5)) == true)
        #expect(await doorbell.wait(upTo: .milliseconds(50)) == false)
    }

    @Test func aRingWakesTheWaiterBeforeItsTimeout() async {
        let doorbell = Doorbell()
        async let woken = doorbell.wait(upTo: .seconds(30))
        try? await Task.sleep(for: .milliseconds(50))
        doorbell.ring()
        #expect(await woken == true)
    }

    @Test func aCancelledWaitEndsAtOnce() async {
        let doorbell = Doorbell()
        let waiting = Task { await doorbell.wait(upTo: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == false)
        // The doorbell still works for the next waiter.
        doorbell.ring()
        #expect(await doorbell.wait(upTo: .seconds(5)) == true)
    }
}

@Suite struct OutboxListenerTests {
    /// Two schemas with an outbox each and the trigger; a listener for the first.
    func withListener(_ body: @Sendable (PostgresClient, Doorbell) async throws -> Void) async throws {
        try await withDatabase(schema: "wake") { client, _ in
            for schema in ["wake", "other"] {
                try await client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger: logger)
                let script = "SET search_path TO \(schema);"
                    + LeasedOutbox.tableSQL("notes_outbox", payload: ["body text NOT NULL"]) + ";"
                    + OutboxListener.triggerSQL(tables: ["notes_outbox"])
                try await client.withConnection { connection in
                    for statement in SQLScript.statements(script) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("RESET search_path", logger: logger)
                }
            }
            let listener = OutboxListener(database: client, schema: "wake", tables: ["notes_outbox"], logger: logger)
            let doorbell = try #require(listener.doorbell("notes_outbox"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                defer { group.cancelAll() }
                // The listener rings once when it starts listening.
                #expect(await doorbell.wait(upTo: .seconds(10)) == true)
                try await body(client, doorbell)
            }
        }
    }

    @Test func aCommittedMessageRingsAtOnceARolledBackOneNever() async throws {
        try await withListener { client, doorbell in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("INSERT INTO wake.notes_outbox (body) VALUES ('hello')", logger: logger)
                // Not before the commit: PostgreSQL holds the notification until then.
                #expect(await doorbell.wait(upTo: .milliseconds(300)) == false)
            }
            #expect(await doorbell.wait(upTo: .seconds(10)) == true)

            await #expect(throws: (any Error).self) {
                try await client.withTransaction(logger: logger) { connection in
                    try await connection.query("INSERT INTO wake.notes_outbox (body) VALUES ('never')", logger: logger)
                    throw CancellationError()
                }
            }
            #expect(await doorbell.wait(upTo: .milliseconds(300)) == false)
        }
    }

    @Test func aStatementThatQueuedNothingOrAnotherSchemasMessageDoesNotRing() async throws {
        try await withListener { client, doorbell in
            try await client.query("INSERT INTO wake.notes_outbox (body) SELECT 'x' WHERE false", logger: logger)
            try await client.query("INSERT INTO other.notes_outbox (body) VALUES ('theirs')", logger: logger)
            #expect(await doorbell.wait(upTo: .milliseconds(300)) == false)
            try await client.query("INSERT INTO wake.notes_outbox (body) SELECT 'n' || g FROM generate_series(1, 3) g", logger: logger)
            #expect(await doorbell.wait(upTo: .seconds(10)) == true)
        }
    }
}
