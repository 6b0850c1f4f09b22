public import Logging
import PostgresNIO
import SuiteCore

/// Group commit: concurrent writes that would each be one statement and one commit go
/// to PostgreSQL together, as one statement over many rows (`unnest`) and one commit.
/// While a batch is with the database, new writes wait for the next one; a write that
/// comes alone goes at once (no timer, no added latency). Every write is durable when
/// its caller hears back, as before.
///
/// - Writes with the same `key` never share a statement (an upsert may touch a row only
///   once per statement): a later one waits for the next batch, in arrival order.
/// - A batch runs sorted by key, so two batches in flight lock rows in the same order
///   and cannot deadlock each other.
/// - When PostgreSQL refuses a batch, nothing of it was written (one statement), and
///   each of its writes runs alone: one bad row fails only its own caller. A lost
///   connection fails the whole batch, as it would each write.
public final class WriteBatcher<Input: Sendable, Key: Hashable & Comparable & Sendable, Output: Sendable>: Sendable {
    /// Writes the inputs in one statement and returns one output per input, in order.
    public typealias Write = @Sendable ([Input], Logger) async throws -> [Output]

    private struct Waiter: BatchWaiter {
        var id: UInt64
        var input: Input
        var key: Key
        var deadline: ContinuousClock.Instant?
        var continuation: CheckedContinuation<Output, any Error>
    }

    /// The write's outputs did not match its inputs: a bug in `write`.
    public struct OutputCountMismatch: Error {
        public let inputs: Int
        public let outputs: Int
    }

    private let write: Write
    private let key: @Sendable (Input) -> Key
    private let maxBatch: Int
    private let queue: BatchQueue<Waiter>

    /// - Parameters:
    ///   - maxInFlight: batches with the database at once (two keep both cores busy).
    ///   - maxBatch: writes per statement at most.
    ///   - key: what must not appear twice in one statement (an upsert's conflict key).
    public init(
        maxInFlight: Int = 2, maxBatch: Int = 64, key: @escaping @Sendable (Input) -> Key, write: @escaping Write
    ) {
        self.write = write
        self.key = key
        self.maxBatch = maxBatch
        queue = BatchQueue(maxInFlight: maxInFlight)
    }

    /// Writes `input` with whatever else is waiting, and returns its output once the
    /// batch has committed.
    ///
    /// A caller cancelled while it waits leaves the queue and nothing is written for it.
    /// A batch is given up at the earliest deadline of its callers (`RequestDeadline`)
    /// while it waits for a connection; once its statement reached PostgreSQL, every
    /// caller hears how it ended, so nobody is told "failed" about a write that commits.
    public func submit(_ input: Input, logger: Logger) async throws -> Output {
        let key = key(input)
        let id = queue.nextID()
        let deadline = RequestDeadline.current
        return try await withTaskCancellationHandler {
            try Task.checkCancellation()
            return try await withCheckedThrowingContinuation { continuation in
                let waiter = Waiter(id: id, input: input, key: key, deadline: deadline, continuation: continuation)
                if queue.enqueue(waiter) { Task { await self.drain(logger: logger) } }
            }
        } onCancel: {
            queue.remove(id: id)?.continuation.resume(throwing: CancellationError())
        }
    }

    /// How many writes wait for a batch.
    var waitingCount: Int { queue.waitingCount }

    /// Runs batches until nobody waits.
    private func drain(logger: Logger) async {
        while true {
            var batch = queue.next { Self.take(from: &$0, max: maxBatch) }
            if batch.isEmpty { return }
            batch.sort { $0.key < $1.key }
            do {
                try await run(batch, logger: logger)
            } catch let error as PSQLError where error.code == .server && batch.count > 1 {
                logger.notice(
                    "a batched write was refused; writing its rows one by one",
                    metadata: ["rows": "\(batch.count)", "sqlstate": "\(error.serverInfo?[.sqlState] ?? "")"])
                for waiter in batch {
                    do { try await run([waiter], logger: logger) } catch { waiter.continuation.resume(throwing: error) }
                }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }

    /// Writes `batch` and answers its waiters; throws (answering nobody) when the write fails.
    private func run(_ batch: [Waiter], logger: Logger) async throws {
        let write = self.write
        let inputs = batch.map(\.input)
        let outputs = try await until(RequestDeadline.earliest(batch.map(\.deadline))) { try await write(inputs, logger) }
        guard outputs.count == batch.count else { throw OutputCountMismatch(inputs: batch.count, outputs: outputs.count) }
        for (waiter, output) in zip(batch, outputs) { waiter.continuation.resume(returning: output) }
    }

    /// Up to `max` waiters in arrival order, no key twice; the ones skipped keep their place.
    private static func take(from waiting: inout [Waiter], max: Int) -> [Waiter] {
        var batch: [Waiter] = []
        var keys = Set<Key>()
        var skipped: [Waiter] = []
        var index = waiting.startIndex
        while index < waiting.endIndex, batch.count < max {
            let waiter = waiting[index]
            if keys.insert(waiter.key).inserted { batch.append(waiter) } else { skipped.append(waiter) }
            index += 1
        }
        waiting.replaceSubrange(waiting.startIndex..<index, with: skipped)
        return batch
    }
}
