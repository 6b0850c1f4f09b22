import Logging
import PostgresNIO
import Synchronization

/// Coalesces concurrent single-address lookups into one query: while a batch is with
/// PostgreSQL, new lookups wait for the next one, so 64 clients cost a couple of round
/// trips instead of 64. Alone, a lookup goes out at once (no timer, no added latency).
/// Nothing is cached: every answer comes from the database as it is now.
final class LookupBatcher: Sendable {
    struct Key: Hashable, Sendable {
        var medium: String
        var address: String
    }

    typealias Found = (mxid: String, ts: Int64, notBefore: Int64, notAfter: Int64)

    private struct Waiter {
        var key: Key
        var continuation: CheckedContinuation<Found?, any Error>
    }

    private struct State {
        var waiting: [Waiter] = []
        var inFlight = 0
    }

    let database: PostgresClient
    let maxInFlight: Int
    let maxBatch: Int
    private let state = Mutex(State())

    init(database: PostgresClient, maxInFlight: Int = 2, maxBatch: Int = 256) {
        self.database = database
        self.maxInFlight = maxInFlight
        self.maxBatch = maxBatch
    }

    func lookup(medium: String, address: String, logger: Logger) async throws -> Found? {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.waiting.append(Waiter(key: Key(medium: medium, address: address), continuation: continuation))
                guard state.inFlight < maxInFlight else { return false }
                state.inFlight += 1
                return true
            }
            if start { Task { await self.drain(logger: logger) } }
        }
    }

    /// Runs batches until nobody waits.
    private func drain(logger: Logger) async {
        while true {
            let batch = state.withLock { state -> [Waiter] in
                let batch = Array(state.waiting.prefix(maxBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.inFlight -= 1 }
                return batch
            }
            if batch.isEmpty { return }
            do {
                let rows = try await database.execute(
                    LookupMany(media: batch.map(\.key.medium), addresses: batch.map(\.key.address)), logger: logger)
                var found: [Key: Found] = [:]
                found.reserveCapacity(batch.count)
                for try await (medium, address, mxid, ts, notBefore, notAfter) in rows {
                    found[Key(medium: medium, address: address)] = (mxid, ts, notBefore, notAfter)
                }
                for waiter in batch { waiter.continuation.resume(returning: found[waiter.key]) }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
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
