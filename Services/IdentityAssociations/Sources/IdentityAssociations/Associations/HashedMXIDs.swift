import SuiteCore

/// The v2 lookup table, hash → mxid, shaped for the lookup loop.
///
/// A v2 lookup probes it up to 10,000 times per request, at random places in a table of
/// every association, so each probe is a cache miss and the misses are the cost. A
/// `Dictionary<HashKey, String>` spends four on a hit (its bitmap, keys, values, and the
/// mxid's own storage) plus an atomic retain of that storage. Here every entry is one
/// 64-byte slot (open addressing, linear probing): the key's four words, then the mxid
/// already written as a JSON string when it fits in 31 bytes (`"@alice:example.org"`
/// does), so a hit touches one cache line and copies it to the answer as it is. A longer
/// mxid is kept in `spill` and its slot marked.
///
/// A value type with copy-on-write storage, as `Dictionary` is: the index's writers
/// mutate it in place while they hold the only reference.
struct HashedMXIDs: Sendable {
    /// Slot layout: key words at 0, 8, 16, 24; at 32 the state byte (`empty`, `spilled` or
    /// the inline text's length); the inline text from 33 on.
    private static let slotSize = 64, stateOffset = 32, textOffset = 33
    private static let inlineCapacity = slotSize - textOffset
    private static let empty: UInt8 = 0, spilled: UInt8 = 0xFF

    private final class Storage: @unchecked Sendable {
        let slots: UnsafeMutableRawPointer
        let capacity: Int
        /// Spreads the key's first word over the table. The keys are SHA-256 outputs, but
        /// the table must not depend on that: the seed is random per process.
        let seed: UInt64
        let shift: UInt64

        init(capacity: Int, seed: UInt64) {
            precondition(capacity >= 8 && capacity & (capacity - 1) == 0)
            self.capacity = capacity
            self.seed = seed
            shift = UInt64(64 - capacity.trailingZeroBitCount)
            slots = UnsafeMutableRawPointer.allocate(byteCount: capacity * HashedMXIDs.slotSize, alignment: HashedMXIDs.slotSize)
            slots.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * HashedMXIDs.slotSize)
        }

        deinit { slots.deallocate() }

        func copy() -> Storage {
            let copy = Storage(capacity: capacity, seed: seed)
            copy.slots.copyMemory(from: slots, byteCount: capacity * HashedMXIDs.slotSize)
            return copy
        }

        @inline(__always) func home(_ first: UInt64) -> Int {
            Int(truncatingIfNeeded: ((first ^ seed) &* 0x9E37_79B9_7F4A_7C15) >> shift)
        }

        @inline(__always) func slot(_ index: Int) -> UnsafeMutableRawPointer { slots + index &* HashedMXIDs.slotSize }

        @inline(__always) func state(_ slot: UnsafeMutableRawPointer) -> UInt8 {
            slot.load(fromByteOffset: HashedMXIDs.stateOffset, as: UInt8.self)
        }

        /// The slot holding `key`, or the empty slot where it would go.
        @inline(__always) func find(_ key: AssociationIndex.HashKey) -> (index: Int, found: Bool) {
            let mask = capacity - 1
            var index = home(key.words.0)
            while true {
                let slot = slot(index)
                if state(slot) == HashedMXIDs.empty { return (index, false) }
                if slot.load(as: UInt64.self) == key.words.0, slot.load(fromByteOffset: 8, as: UInt64.self) == key.words.1,
                    slot.load(fromByteOffset: 16, as: UInt64.self) == key.words.2, slot.load(fromByteOffset: 24, as: UInt64.self) == key.words.3
                {
                    return (index, true)
                }
                index = (index &+ 1) & mask
            }
        }
    }

    private var storage: Storage
    private var spill: [AssociationIndex.HashKey: [UInt8]] = [:]
    private(set) var count = 0

    init(capacity: Int = 1024) {
        storage = Storage(capacity: max(8, capacity).nextPowerOfTwo, seed: UInt64.random(in: .min ... .max))
    }

    /// The slot holding `key`'s mxid, for `appendMXID(at:)`; nil when none is bound.
    @inline(__always)
    func slot(of key: AssociationIndex.HashKey) -> Int? {
        let (index, found) = storage.find(key)
        return found ? index : nil
    }

    /// Appends the mxid in `slot` (found for `key`) as a JSON string.
    @inline(__always)
    func appendMXID(at slot: Int, key: AssociationIndex.HashKey, to out: inout [UInt8]) {
        let slot = storage.slot(slot)
        let state = storage.state(slot)
        if state == Self.spilled {
            if let text = spill[key] { out.append(contentsOf: text) }
        } else {
            out.append(contentsOf: UnsafeBufferPointer(start: (slot + Self.textOffset).assumingMemoryBound(to: UInt8.self), count: Int(state)))
        }
    }

    /// Reads the home slot of every key, in a loop with nothing else in it, so the
    /// processor has many of these cache misses in flight at once; the probes that follow
    /// then find their slots in cache. Returns a byte the caller must use (so the reads
    /// are not optimised away): 0 or 1.
    func warm(_ keys: [AssociationIndex.HashKey?]) -> Int {
        var any: UInt8 = 0
        for key in keys {
            guard let key else { continue }
            any |= storage.state(storage.slot(storage.home(key.words.0)))
        }
        return any == 0 ? 0 : 1
    }

    /// The mxid bound to `key` (for tests and diagnostics; lookups use `appendMXID`).
    subscript(key: AssociationIndex.HashKey) -> String? {
        guard let slot = slot(of: key) else { return nil }
        var text: [UInt8] = []
        appendMXID(at: slot, key: key, to: &text)
        guard case .string(let mxid)? = try? JSONParser.parse(text) else { return nil }
        return mxid
    }

    mutating func set(_ key: AssociationIndex.HashKey, mxid: String) {
        // Growing makes new storage anyway; otherwise copy it if it is shared.
        if (count + 1) * 10 > storage.capacity * 7 {
            grow()
        } else if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy()
        }
        var text: [UInt8] = []
        text.reserveCapacity(mxid.utf8.count + 2)
        CanonicalJSON.writeString(mxid, into: &text)
        let (index, found) = storage.find(key)
        let slot = storage.slot(index)
        if found {
            if storage.state(slot) == Self.spilled { spill[key] = nil }
        } else {
            count += 1
            slot.storeBytes(of: key.words.0, as: UInt64.self)
            slot.storeBytes(of: key.words.1, toByteOffset: 8, as: UInt64.self)
            slot.storeBytes(of: key.words.2, toByteOffset: 16, as: UInt64.self)
            slot.storeBytes(of: key.words.3, toByteOffset: 24, as: UInt64.self)
        }
        if text.count <= Self.inlineCapacity {
            slot.storeBytes(of: UInt8(text.count), toByteOffset: Self.stateOffset, as: UInt8.self)
            text.withUnsafeBytes { (slot + Self.textOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        } else {
            slot.storeBytes(of: Self.spilled, toByteOffset: Self.stateOffset, as: UInt8.self)
            spill[key] = text
        }
    }

    mutating func remove(_ key: AssociationIndex.HashKey) {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        var (hole, found) = storage.find(key)
        guard found else { return }
        if storage.state(storage.slot(hole)) == Self.spilled { spill[key] = nil }
        count -= 1
        // Backward-shift deletion: move up every later entry of the run that may sit in
        // the hole (its home is not between the hole and where it is), so probes still
        // stop only at a truly empty slot, and no tombstones pile up.
        let mask = storage.capacity - 1
        var index = hole
        while true {
            index = (index &+ 1) & mask
            let slot = storage.slot(index)
            guard storage.state(slot) != Self.empty else { break }
            let home = storage.home(slot.load(as: UInt64.self))
            if (index &- home) & mask >= (index &- hole) & mask {
                storage.slot(hole).copyMemory(from: slot, byteCount: Self.slotSize)
                hole = index
            }
        }
        storage.slot(hole).storeBytes(of: Self.empty, toByteOffset: Self.stateOffset, as: UInt8.self)
    }

    private mutating func grow() {
        let old = storage
        storage = Storage(capacity: old.capacity * 2, seed: old.seed)
        for index in 0..<old.capacity {
            let slot = old.slot(index)
            guard old.state(slot) != Self.empty else { continue }
            let key = AssociationIndex.HashKey(words: (
                slot.load(as: UInt64.self), slot.load(fromByteOffset: 8, as: UInt64.self),
                slot.load(fromByteOffset: 16, as: UInt64.self), slot.load(fromByteOffset: 24, as: UInt64.self)))
            let (target, _) = storage.find(key)
            storage.slot(target).copyMemory(from: slot, byteCount: Self.slotSize)
        }
    }
}

/// The slots one lookup already answered, so an address asked twice is answered once:
/// a small open-addressing set of slot numbers, cheaper than `Set` (no Hasher) and, as
/// slot numbers come from the table's seeded hash, not something a caller can crowd.
struct AnsweredSlots {
    private var slots: [Int32]
    private let shift: UInt64

    init(expected: Int) {
        let capacity = max(16, (expected * 2).nextPowerOfTwo)
        slots = Array(repeating: -1, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
    }

    /// True the first time `slot` is inserted.
    @inline(__always)
    mutating func insert(_ slot: Int) -> Bool {
        let mask = slots.count - 1, value = Int32(truncatingIfNeeded: slot)
        var index = Int(truncatingIfNeeded: (UInt64(truncatingIfNeeded: slot) &* 0x9E37_79B9_7F4A_7C15) >> shift)
        return slots.withUnsafeMutableBufferPointer { slots in
            while true {
                if slots[index] == value { return false }
                if slots[index] == -1 {
                    slots[index] = value
                    return true
                }
                index = (index &+ 1) & mask
            }
        }
    }
}

extension Int {
    fileprivate var nextPowerOfTwo: Int { self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}
