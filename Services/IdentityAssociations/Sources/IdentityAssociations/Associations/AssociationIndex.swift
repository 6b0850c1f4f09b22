import Logging
import PostgresNIO
import Synchronization
import SuiteCore
import SuitePostgres
import SuiteSigning

/// An in-memory copy of the associations, for lookups: v1 by address, v2 by hash.
///
/// PostgreSQL stays the source of truth. Triggers number every change to
/// `associations` (`association_generation`, `association_log`); before answering, a
/// lookup asks PostgreSQL for the current generation (concurrent lookups share that one
/// small query) and, when this copy is behind, reads the changed rows first. So an
/// answer is never older than its request, on any replica, and an association bound
/// through another replica, or written by an operator's SQL, is seen at once.
///
/// While the first full copy loads (and after falling behind the log's pruning), the
/// index answers `nil` and lookups ask PostgreSQL directly.
final class AssociationIndex: Sendable {
    struct Key: Hashable, Sendable {
        var medium: String
        var address: String
    }

    /// A v2 lookup hash (unpadded base64url of 32 bytes) as four words: hashing and
    /// comparing it costs a few instructions, where a 43-character String costs a SipHash
    /// and a memcmp.
    struct HashKey: Hashable, Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

        init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

        /// nil for anything but the 43 base64url characters of 32 bytes, in their one
        /// canonical form (the last character's two spare bits clear), so a key has
        /// exactly one text and the answer can repeat the text it was asked.
        init?(_ text: String) {
            var text = text
            guard let words = text.withUTF8(Self.decode) else { return nil }
            self.words = words
        }

        /// base64url digit values; 0xFF for anything else.
        private static let digits: [UInt8] = {
            var table = [UInt8](repeating: 0xFF, count: 256)
            for (value, character) in Base64URL.alphabet.enumerated() {
                table[Int(character)] = UInt8(value)
            }
            return table
        }()

        /// Appends the key's text, the 43 characters it was read from, as a JSON object
        /// key: `"…":`, after a comma when `prefix` is true. Written in one append
        /// from a buffer on the stack: one append per character checks the array's
        /// uniqueness and capacity 47 times.
        func appendMember(prefix comma: Bool, to out: inout [UInt8]) {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { text in
                var at = 0
                if comma {
                    text[at] = UInt8(ascii: ",")
                    at += 1
                }
                text[at] = UInt8(ascii: "\"")
                at += 1
                at += withUnsafeBytes(of: words) { Base64URL.encode($0, into: UnsafeMutableBufferPointer(rebasing: text[at...])) }
                text[at] = UInt8(ascii: "\"")
                text[at + 1] = UInt8(ascii: ":")
                out.append(contentsOf: UnsafeBufferPointer(rebasing: text[..<(at + 2)]))
            }
        }

        /// Four characters at a time into three bytes, big-endian as the text reads.
        static func decode(_ characters: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64, UInt64, UInt64)? {
            guard characters.count == 43 else { return nil }
            var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            let valid = digits.withUnsafeBufferPointer { digits in
                withUnsafeMutableBytes(of: &words) { bytes -> Bool in
                    var invalid: UInt32 = 0
                    @inline(__always) func digit(_ position: Int) -> UInt32 {
                        let value = UInt32(digits[Int(characters[position])])
                        invalid |= value
                        return value
                    }
                    for group in 0..<10 {
                        let at = group &* 4
                        let bits = digit(at) << 18 | digit(at &+ 1) << 12 | digit(at &+ 2) << 6 | digit(at &+ 3)
                        bytes[group &* 3] = UInt8(truncatingIfNeeded: bits >> 16)
                        bytes[group &* 3 &+ 1] = UInt8(truncatingIfNeeded: bits >> 8)
                        bytes[group &* 3 &+ 2] = UInt8(truncatingIfNeeded: bits)
                    }
                    let last = digit(42)
                    let bits = digit(40) << 10 | digit(41) << 4 | last >> 2
                    bytes[30] = UInt8(truncatingIfNeeded: bits >> 8)
                    bytes[31] = UInt8(truncatingIfNeeded: bits)
                    return invalid & 0x80 == 0 && last & 0x3 == 0
                }
            }
            return valid ? words : nil
        }

        static func == (lhs: HashKey, rhs: HashKey) -> Bool {
            lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
        }

        /// The words are SHA-256 output already: one of them spreads as well as all four.
        func hash(into hasher: inout Hasher) {
            hasher.combine(words.0)
        }
    }

    typealias Entry = AssociationTable.Found

    /// What the copy holds (entries, bytes) and the generation it is at; nil before its
    /// first load. For `/metrics`.
    func statistics() -> (entries: Int, memoryBytes: Int, generation: Int64)? {
        contents.read { contents in contents.map { ($0.table.count, $0.table.memoryBytes, $0.generation) } }
    }

    /// PostgreSQL's current generation of the associations, read as lookups read it
    /// (one read shared by whoever asks at the same time).
    func databaseGeneration(logger: Logger) async throws -> Int64? {
        try await probe.load(0, logger: logger)?.value
    }

    /// The copy and the generation it is at. The table is changed in place, under the
    /// exclusive side of `contents`' lock.
    struct Contents: Sendable {
        var generation: Int64 = 0
        var table = AssociationTable()
    }

    /// Who is bringing the copy up to date.
    private struct Work: Sendable {
        var fullLoadRunning = false
        var catchUp: Task<Void, any Error>?
    }

    private let database: PostgresClient
    /// Lookups read this side by side; a catch-up or a load writes it briefly.
    private let contents = ReadMostly<Contents?>(nil)
    private let work = Mutex(Work())
    /// Concurrent lookups share one read of the generation.
    private let probe: QueryBatcher<Int, Generation>

    struct Generation: Sendable {
        var value: Int64
        var prunedThrough: Int64
    }

    init(database: PostgresClient) {
        self.database = database
        probe = QueryBatcher(maxInFlight: 1) { _, logger in
            let rows = try await database.sql("SELECT value, pruned_through FROM association_generation WHERE id = 1", logger: logger)
            for try await (value, pruned) in rows.decode((Int64, Int64).self) {
                return [0: Generation(value: value, prunedThrough: pruned)]
            }
            return [:]
        }
    }

    /// Runs `read` on contents at least as new as PostgreSQL was when this was called, or
    /// returns nil when the index is not loaded yet (the caller asks PostgreSQL). `read`
    /// runs under a shared lock, beside other lookups: keep it short. `known` is a
    /// generation the request already read from PostgreSQL (with its v2 token).
    func read<T: Sendable>(logger: Logger, known: Generation? = nil, _ read: (borrowing Contents) throws -> T) async throws -> T? {
        let probed = known == nil ? try await probe.load(0, logger: logger) : known
        guard let current = probed else { throw AppError.internalError }
        while true {
            var generation: Int64?
            let answer = try contents.read { contents throws -> T? in
                generation = contents?.generation
                guard let contents, contents.generation >= current.value else { return nil }
                return try read(contents)
            }
            if let answer { return answer }
            guard let generation, generation >= current.prunedThrough else {
                startFullLoad(logger: logger)
                return nil
            }
            // One catch-up at a time; everyone behind waits for it.
            let task = work.withLock { work in
                if let task = work.catchUp { return task }
                let task = Task {
                    defer { self.work.withLock { $0.catchUp = nil } }
                    try await self.catchUp(from: generation, logger: logger)
                }
                work.catchUp = task
                return task
            }
            try await task.value
        }
    }

    /// Reads every association in one statement (one snapshot, with its generation), in
    /// the background; lookups meanwhile go to PostgreSQL.
    private func startFullLoad(logger: Logger) {
        let start = work.withLock { work -> Bool in
            guard !work.fullLoadRunning else { return false }
            work.fullLoadRunning = true
            return true
        }
        guard start else { return }
        Task {
            defer { work.withLock { $0.fullLoadRunning = false } }
            // A copy behind the log's pruning cannot be caught up: let it go before the new
            // one is built, so a replica never holds two (lookups ask PostgreSQL meanwhile).
            self.contents.write { $0 = nil }
            do {
                let clock = ContinuousClock.now
                var contents = Contents()
                let rows = try await database.sql(
                    """
                    SELECT g.value, a.medium, a.address, a.mxid, a.lookup_hash, a.ts, a.not_before, a.not_after
                    FROM association_generation g LEFT JOIN associations a ON true WHERE g.id = 1
                    """, logger: logger)
                for try await (generation, medium, address, mxid, hash, ts, notBefore, notAfter)
                    in rows.decode((Int64, String?, String?, String?, String?, Int64?, Int64?, Int64?).self)
                {
                    contents.generation = generation
                    guard let medium, let address, let mxid, let hash, let ts, let notBefore, let notAfter else { continue }
                    contents.table.apply(
                        Key(medium: medium, address: address), Entry(mxid: mxid, ts: ts, notBefore: notBefore, notAfter: notAfter),
                        hash: HashKey(hash))
                }
                let count = contents.table.count, bytes = contents.table.memoryBytes
                let loaded = contents
                self.contents.write { current in
                    // A catch-up that finished meanwhile may already be newer.
                    if (current?.generation ?? -1) < loaded.generation { current = loaded }
                }
                logger.info(
                    "lookup index loaded",
                    metadata: [
                        "associations": "\(count)", "generation": "\(contents.generation)", "bytes": "\(bytes)",
                        "ms": "\((ContinuousClock.now - clock).milliseconds)",
                    ])
            } catch {
                logger.warning("lookup index load failed; lookups ask PostgreSQL", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// Applies the changes logged after `generation`.
    private func catchUp(from generation: Int64, logger: Logger) async throws {
        let rows = try await database.sql(
            """
            SELECT g.value, g.pruned_through, c.medium, c.address, a.mxid, a.lookup_hash, a.ts, a.not_before, a.not_after
            FROM association_generation g
            LEFT JOIN (
                (SELECT DISTINCT medium, address FROM association_log WHERE generation > \(generation)) c
                LEFT JOIN associations a USING (medium, address)
            ) ON true
            WHERE g.id = 1
            """, logger: logger)
        var changes: [(Key, Entry?, HashKey?)] = []
        var newest = generation, pruned: Int64 = 0
        for try await (value, prunedThrough, medium, address, mxid, hash, ts, notBefore, notAfter)
            in rows.decode((Int64, Int64, String?, String?, String?, String?, Int64?, Int64?, Int64?).self)
        {
            newest = value
            pruned = prunedThrough
            guard let medium, let address else { continue }
            let key = Key(medium: medium, address: address)
            if let mxid, let hash, let ts, let notBefore, let notAfter {
                changes.append((key, Entry(mxid: mxid, ts: ts, notBefore: notBefore, notAfter: notAfter), HashKey(hash)))
            } else {
                changes.append((key, nil, nil))
            }
        }
        contents.write { contents in
            // A full load that finished meanwhile may have replaced this copy.
            guard contents?.generation == generation else { return }
            if pruned > generation {
                // Rows this copy needed were pruned: start over (lookups ask PostgreSQL meanwhile).
                contents = nil
                return
            }
            for (key, entry, hash) in changes { contents?.table.apply(key, entry, hash: hash) }
            contents?.generation = newest
        }
    }

    /// Deletes log rows older than `retention` (every replica caught up long before), and
    /// records how far it pruned.
    static func prune(database: PostgresClient, retentionSeconds: Int, logger: Logger) async throws {
        try await database.sql(
            """
            WITH pruned AS (
                DELETE FROM association_log WHERE logged_at < now() - make_interval(secs => \(Double(retentionSeconds)))
                RETURNING generation
            )
            UPDATE association_generation SET pruned_through = GREATEST(pruned_through, (SELECT max(generation) FROM pruned))
            WHERE id = 1 AND EXISTS (SELECT 1 FROM pruned)
            """, logger: logger)
    }
}
