import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import SuitePostgres

@Suite struct WriteBatcherTests {
    struct Broken: Error {}

    /// The statements a batcher ran, each as its inputs.
    final class Record: Sendable {
        let statements = Mutex<[[String]]>([])
        var all: [[String]] { statements.withLock { $0 } }
    }

    /// Writes "k:v" strings; the key is the part before the colon.
    static func batcher(
        maxBatch: Int = 64, record: Record, failing: @escaping @Sendable ([String]) throws -> Void = { _ in }
    ) -> WriteBatcher<String, String, String> {
        WriteBatcher(maxBatch: maxBatch, key: { String($0.prefix { $0 != ":" }) }) { inputs, _ in
            record.statements.withLock { $0.append(inputs) }
            try await Task.sleep(for: .milliseconds(20))
            try failing(inputs)
            return inputs.map { "wrote " + $0 }
        }
    }

    static func submitAll(_ inputs: [String], to batcher: WriteBatcher<String, String, String>) async -> [String: Result<String, any Error>] {
        await withTaskGroup(of: (String, Result<String, any Error>).self) { group in
            for input in inputs {
                group.addTask {
                    do { return (input, .success(try await batcher.submit(input, logger: Logger(label: "t")))) } catch { return (input, .failure(error)) }
                }
            }
            var all: [String: Result<String, any Error>] = [:]
            for await (input, result) in group { all[input] = result }
            return all
        }
    }

    @Test func concurrentWritesShareStatementsAndEachHearsItsOwnOutput() async throws {
        let record = Record()
        let batcher = Self.batcher(record: record)
        let inputs = (0..<100).map { "k\($0):v" }
        let results = await Self.submitAll(inputs, to: batcher)
        for input in inputs { #expect(try results[input]?.get() == "wrote " + input) }
        let statements = record.all
        // 100 writes, at most two statements in flight: a handful of statements, not 100.
        #expect(statements.count < 10)
        #expect(statements.flatMap { $0 }.sorted() == inputs.sorted())
        // Each statement runs in key order, so two in flight lock rows in the same order.
        for statement in statements {
            let keys = statement.map { $0.prefix { $0 != ":" } }
            #expect(keys == keys.sorted())
        }
    }

    @Test func aKeyNeverAppearsTwiceInOneStatementAndLaterWritesOfItKeepTheirOrder() async throws {
        let record = Record()
        let batcher = Self.batcher(record: record)
        // Hold the batcher busy so everything below queues up together.
        async let first = Self.submitAll(["busy:0", "busy2:0"], to: batcher)
        try await Task.sleep(for: .milliseconds(5))
        let inputs = (0..<3).flatMap { round in ["a", "b", "c"].map { "\($0):\(round)" } }
        // Submitted one after another: each is in line before the next arrives (a fixed
        // pause lost that race on a loaded machine).
        let outputs = await withTaskGroup(of: String?.self) { group in
            for input in inputs {
                let before = batcher.waitingCount
                group.addTask { try? await batcher.submit(input, logger: Logger(label: "t")) }
                // In line (or already taken by a free drain, which the wait's bound covers).
                for _ in 0..<100 where batcher.waitingCount <= before { try? await Task.sleep(for: .milliseconds(1)) }
            }
            var outputs: [String] = []
            for await output in group { output.map { outputs.append($0) } }
            return outputs
        }
        _ = await first
        #expect(outputs.sorted() == inputs.map { "wrote " + $0 }.sorted())
        let statements = record.all
        for statement in statements {
            let keys = statement.map { String($0.prefix { $0 != ":" }) }
            #expect(Set(keys).count == keys.count, "one statement held a key twice: \(statement)")
        }
        // Each key's writes reached the database in the order they were submitted.
        let order = statements.flatMap { $0 }
        for key in ["a", "b", "c"] {
            #expect(order.filter { $0.hasPrefix(key + ":") } == ["\(key):0", "\(key):1", "\(key):2"])
        }
    }

    @Test func aStatementPostgreSQLRefusesIsRetriedRowByRowSoOnlyTheBadWriteFails() async throws {
        try await withDatabase { database, _ in
            try await database.query("CREATE SCHEMA svc", logger: Logger(label: "t"))
            try await database.query(
                "CREATE TABLE svc.notes (key text PRIMARY KEY, value integer NOT NULL CHECK (value >= 0))", logger: Logger(label: "t"))
            let record = Record()
            let batcher = WriteBatcher<Note, String, Int>(key: \.key) { inputs, logger in
                record.statements.withLock { $0.append(inputs.map(\.key)) }
                let rows = try await database.query(
                    """
                    INSERT INTO svc.notes (key, value) SELECT * FROM unnest(\(inputs.map(\.key))::text[], \(inputs.map(\.value))::integer[])
                    RETURNING value
                    """, logger: logger)
                var values: [Int] = []
                for try await value in rows.decode(Int.self) { values.append(value) }
                return values
            }
            // One note breaks the CHECK constraint; they arrive together, so they share statements.
            let notes = (0..<30).map { Note(key: "note\($0)", value: $0 == 17 ? -1 : $0) }
            let results = await withTaskGroup(of: (String, Result<Int, any Error>).self) { group in
                for note in notes {
                    group.addTask {
                        do { return (note.key, .success(try await batcher.submit(note, logger: Logger(label: "t")))) } catch { return (note.key, .failure(error)) }
                    }
                }
                var all: [String: Result<Int, any Error>] = [:]
                for await (key, result) in group { all[key] = result }
                return all
            }
            for note in notes where note.key != "note17" { #expect(try results[note.key]?.get() == note.value) }
            #expect(throws: PSQLError.self) { try results["note17"]?.get() }
            let stored = try await database.query("SELECT count(*)::integer, count(*) FILTER (WHERE key = 'note17')::integer FROM svc.notes", logger: Logger(label: "t"))
            for try await (count, bad) in stored.decode((Int, Int).self) {
                #expect(count == 29)
                #expect(bad == 0)
            }
            // Only the refused statement's writes ran again, each alone.
            let statements = record.all
            let refused = try #require(statements.first { $0.count > 1 && $0.contains("note17") })
            for note in notes {
                let runs = statements.filter { $0.contains(note.key) }
                #expect(runs.count == (refused.contains(note.key) ? 2 : 1), "\(note.key) ran in \(runs)")
            }
        }
    }

    struct Note: Sendable {
        var key: String
        var value: Int
    }

    @Test func anErrorThatIsNotTheDatabaseRefusingFailsTheWholeBatchWithoutRetries() async throws {
        let record = Record()
        let batcher = Self.batcher(record: record) { _ in throw Broken() }
        let results = await Self.submitAll((0..<20).map { "k\($0):v" }, to: batcher)
        for (_, result) in results { #expect(throws: Broken.self) { try result.get() } }
        // No row-by-row retries: the statements tried hold all 20 writes once.
        #expect(record.all.flatMap { $0 }.count == 20)
    }

    @Test func aWriteReturningTheWrongNumberOfOutputsFailsItsCallers() async throws {
        let batcher = WriteBatcher<Int, Int, Int>(key: { $0 }) { _, _ in [] }
        await #expect(throws: WriteBatcher<Int, Int, Int>.OutputCountMismatch.self) { try await batcher.submit(1, logger: Logger(label: "t")) }
    }
}
