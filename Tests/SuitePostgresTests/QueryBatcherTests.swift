import Logging
import Synchronization
import Testing

@testable import SuitePostgres

@Suite struct QueryBatcherTests {
    struct Broken: Error {}

    @Test func concurrentLoadsShareQueriesAndEachGetsItsOwnAnswer() async throws {
        let calls = Mutex(0)
        let batcher = QueryBatcher<Int, String> { keys, _ in
            calls.withLock { $0 += 1 }
            try await Task.sleep(for: .milliseconds(20))
            return Dictionary(uniqueKeysWithValues: keys.filter { $0 % 3 != 0 }.map { ($0, "value \($0)") })
        }
        let answers = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for key in 0..<100 { group.addTask { (key, try await batcher.load(key, logger: Logger(label: "t"))) } }
            var all: [Int: String?] = [:]
            for try await (key, value) in group { all[key] = value }
            return all
        }
        #expect(answers.count == 100)
        for (key, value) in answers { #expect(value == (key % 3 == 0 ? nil : "value \(key)")) }
        // 100 loads, at most two batches in flight: a handful of queries, not 100.
        #expect(calls.withLock { $0 } < 10)
    }

    @Test func aFailedQueryFailsItsWaitersAndTheNextBatchRecovers() async throws {
        let failing = Mutex(true)
        let batcher = QueryBatcher<Int, Int> { keys, _ in
            if failing.withLock({ $0 }) { throw Broken() }
            return Dictionary(uniqueKeysWithValues: keys.map { ($0, $0 * 2) })
        }
        await #expect(throws: Broken.self) { try await batcher.load(1, logger: Logger(label: "t")) }
        failing.withLock { $0 = false }
        #expect(try await batcher.load(21, logger: Logger(label: "t")) == 42)
    }
}
