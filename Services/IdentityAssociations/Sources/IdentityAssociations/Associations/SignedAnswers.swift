import Synchronization

/// v1 lookup answers as signed, by address. Signing (Ed25519) was 15% of a lookup's
/// CPU, and an association's signed form changes only when the association does: a hit
/// counts only when mxid, `ts`, `not_before` and `not_after` are the ones just read from
/// the index, so a rebind or an unbind is never answered from here. A memo of one
/// process's own key, not shared state. Bounded: a full shard starts over.
final class SignedAnswers: Sendable {
    struct Answer: Sendable {
        var mxid: String
        var ts: Int64
        var notBefore: Int64
        var notAfter: Int64
        var bytes: [UInt8]
    }

    private final class Shard: Sendable {
        let answers = Mutex<[AssociationIndex.Key: Answer]>([:])
    }

    private let shards: [Shard]
    private let perShard: Int

    /// `capacity` answers at most (about 300 bytes each), over 16 locks.
    init(capacity: Int = 65_536) {
        shards = (0..<16).map { _ in Shard() }
        perShard = max(1, capacity / 16)
    }

    /// The signed answer for `key` bound as given: remembered, or made by `sign` (outside
    /// any lock) and remembered.
    func answer(
        for key: AssociationIndex.Key, mxid: String, ts: Int64, notBefore: Int64, notAfter: Int64, sign: () -> [UInt8]
    ) -> [UInt8] {
        let shard = shards[Int(UInt(bitPattern: key.hashValue) % 16)]
        if let known = shard.answers.withLock({ $0[key] }),
            known.mxid == mxid, known.ts == ts, known.notBefore == notBefore, known.notAfter == notAfter
        {
            return known.bytes
        }
        let bytes = sign()
        let answer = Answer(mxid: mxid, ts: ts, notBefore: notBefore, notAfter: notAfter, bytes: bytes)
        shard.answers.withLock { answers in
            if answers.count >= perShard, answers[key] == nil { answers.removeAll(keepingCapacity: true) }
            answers[key] = answer
        }
        return bytes
    }

    /// How many answers are remembered (for tests).
    var count: Int { shards.reduce(0) { total, shard in total + shard.answers.withLock { $0.count } } }
}
