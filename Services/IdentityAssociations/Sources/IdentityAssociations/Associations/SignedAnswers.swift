import SuiteCore

/// v1 lookup answers as signed, by address. Signing (Ed25519) was 15% of a lookup's
/// CPU, and an association's signed form changes only when the association does: a hit
/// counts only when mxid, `ts`, `not_before` and `not_after` are the ones just read from
/// the index, so a rebind or an unbind is never answered from here. A memo of one
/// process's own key, not shared state.
struct SignedAnswers: Sendable {
    struct Answer: Sendable {
        var mxid: String
        var ts: Int64
        var notBefore: Int64
        var notAfter: Int64
        var bytes: [UInt8]
    }

    /// About 300 bytes an answer.
    let memo: Memo<AssociationIndex.Key, Answer>

    init(capacity: Int = 65_536) {
        memo = Memo(capacity: capacity)
    }

    /// The signed answer for `key` bound as given: remembered, or made by `sign` (outside
    /// the lock) and remembered.
    func answer(
        for key: AssociationIndex.Key, mxid: String, ts: Int64, notBefore: Int64, notAfter: Int64, sign: () -> [UInt8]
    ) -> [UInt8] {
        if let known = memo.get(key), known.mxid == mxid, known.ts == ts, known.notBefore == notBefore, known.notAfter == notAfter {
            return known.bytes
        }
        let bytes = sign()
        memo.put(key, Answer(mxid: mxid, ts: ts, notBefore: notBefore, notAfter: notAfter, bytes: bytes))
        return bytes
    }
}
