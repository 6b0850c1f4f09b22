import SuiteCore

/// The lookup index's associations, packed for size: about 130 bytes each at a million
/// (a `Dictionary` of Strings and a table of 64-byte slots took 1.4 KB), so ten million
/// fit a replica in under 2 GB.
///
/// Every association is one record in an arena of 1 MiB chunks (no pointer, no String,
/// no per-record allocation): an 8-byte header, the v2 lookup hash (32 bytes), `ts` and
/// `not_after`, `not_before` when it differs from `ts`, then the medium (unless it is
/// `email` or `msisdn`), the address and the mxid. Two open-addressing tables of 8-byte
/// slots find records: by (medium, address) for v1 and by hash for v2. A slot holds the
/// record's reference and a 32-bit tag of its key, so a probe past other keys rarely
/// touches a record; a hit touches the slot and the record, and `warm` fetches both for
/// a whole v2 request before the answer loop, so their cache misses overlap.
///
/// Not thread-safe by itself: the index reads it under a shared lock and changes it under
/// an exclusive one (`ReadMostly`).
final class AssociationTable: @unchecked Sendable {
    struct Found: Sendable, Equatable {
        var mxid: String
        var ts: Int64
        var notBefore: Int64
        var notAfter: Int64
    }

    /// A record's place: chunk << 17 | (offset in chunk / 8).
    typealias Ref = UInt32

    // MARK: Arena

    private static let chunkBits = 20, chunkSize = 1 << 20, offsetBits = 17
    private var chunks: [UnsafeMutableRawPointer] = []
    private var usedInLast = 1 << 20
    /// Bytes of records no table refers to any more (replaced or removed): reclaimed by
    /// `compact` when they outweigh the live ones.
    private(set) var garbageBytes = 0
    private(set) var liveBytes = 0

    // Header: flags (1), medium length (1), address length (2), mxid length (2), spare (2).
    private static let hasHash: UInt8 = 1, ownNotBefore: UInt8 = 2, mediumEmail: UInt8 = 4, mediumMSISDN: UInt8 = 8, escapeMXID: UInt8 = 16

    private(set) var count = 0
    private var byAddress: Slots
    private var byHash: Slots

    init(capacity: Int = 1024) {
        byAddress = Slots(capacity: capacity)
        byHash = Slots(capacity: capacity)
    }

    deinit {
        byAddress.deallocate()
        byHash.deallocate()
        for chunk in chunks { chunk.deallocate() }
    }

    /// Bytes held: the arena's chunks and both tables.
    var memoryBytes: Int { chunks.count * Self.chunkSize + (byAddress.capacity + byHash.capacity) * 8 }

    @inline(__always) private func record(_ ref: Ref) -> UnsafeMutableRawPointer {
        chunks[Int(ref >> UInt32(Self.offsetBits))] + Int(ref & ((1 << UInt32(Self.offsetBits)) - 1)) << 3
    }

    private func allocate(_ size: Int) -> Ref {
        let size = (size + 7) & ~7
        precondition(size <= Self.chunkSize, "an association larger than a chunk")
        if usedInLast + size > Self.chunkSize {
            precondition(chunks.count < 1 << (32 - Self.offsetBits), "the association arena is full")
            chunks.append(UnsafeMutableRawPointer.allocate(byteCount: Self.chunkSize, alignment: 8))
            usedInLast = 0
        }
        let ref = Ref(chunks.count - 1) << UInt32(Self.offsetBits) | Ref(usedInLast >> 3)
        usedInLast += size
        liveBytes += size
        return ref
    }

    // MARK: Record fields

    private struct Layout {
        var flags: UInt8
        var mediumLength: Int
        var addressLength: Int
        var mxidLength: Int

        init(flags: UInt8, mediumLength: Int, addressLength: Int, mxidLength: Int) {
            self.flags = flags
            self.mediumLength = mediumLength
            self.addressLength = addressLength
            self.mxidLength = mxidLength
        }

        init(_ record: UnsafeRawPointer) {
            flags = record.load(as: UInt8.self)
            mediumLength = Int(record.load(fromByteOffset: 1, as: UInt8.self))
            addressLength = Int(record.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            mxidLength = Int(record.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        }

        var hashOffset: Int { 8 }
        var timesOffset: Int { flags & AssociationTable.hasHash != 0 ? 40 : 8 }
        var mediumOffset: Int { timesOffset + (flags & AssociationTable.ownNotBefore != 0 ? 24 : 16) }
        var addressOffset: Int { mediumOffset + mediumLength }
        var mxidOffset: Int { addressOffset + addressLength }
        var size: Int { (mxidOffset + mxidLength + 7) & ~7 }
    }

    private static func mediumFlag(_ medium: UnsafeRawBufferPointer) -> UInt8 {
        if medium.elementsEqual("email".utf8) { return mediumEmail }
        if medium.elementsEqual("msisdn".utf8) { return mediumMSISDN }
        return 0
    }

    /// The record's medium and address as they were given.
    private func withKey<T>(_ record: UnsafeRawPointer, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> T) -> T {
        let layout = Layout(record)
        let address = UnsafeRawBufferPointer(start: record + layout.addressOffset, count: layout.addressLength)
        if layout.flags & Self.mediumEmail != 0 { return Self.email.withUnsafeBytes { body($0, address) } }
        if layout.flags & Self.mediumMSISDN != 0 { return Self.msisdn.withUnsafeBytes { body($0, address) } }
        return body(UnsafeRawBufferPointer(start: record + layout.mediumOffset, count: layout.mediumLength), address)
    }

    private static let email = Array("email".utf8), msisdn = Array("msisdn".utf8)

    private func found(_ record: UnsafeRawPointer) -> Found {
        let layout = Layout(record)
        let times = layout.timesOffset
        let ts = record.loadUnaligned(fromByteOffset: times, as: Int64.self)
        let notAfter = record.loadUnaligned(fromByteOffset: times + 8, as: Int64.self)
        let notBefore = layout.flags & Self.ownNotBefore != 0 ? record.loadUnaligned(fromByteOffset: times + 16, as: Int64.self) : ts
        let mxid = String(decoding: UnsafeRawBufferPointer(start: record + layout.mxidOffset, count: layout.mxidLength), as: UTF8.self)
        return Found(mxid: mxid, ts: ts, notBefore: notBefore, notAfter: notAfter)
    }

    private func hashWords(_ record: UnsafeRawPointer) -> (UInt64, UInt64, UInt64, UInt64)? {
        guard record.load(as: UInt8.self) & Self.hasHash != 0 else { return nil }
        return (
            record.loadUnaligned(fromByteOffset: 8, as: UInt64.self), record.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
            record.loadUnaligned(fromByteOffset: 24, as: UInt64.self), record.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
        )
    }

    // MARK: Hashing

    /// A 64-bit hash of (medium, address), seeded per process (Hasher).
    private static func addressHash(_ medium: UnsafeRawBufferPointer, _ address: UnsafeRawBufferPointer) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(bytes: medium)
        hasher.combine(UInt8(0xFF))
        hasher.combine(bytes: address)
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    private static func addressHash(_ key: AssociationIndex.Key) -> UInt64 {
        var medium = key.medium, address = key.address
        return medium.withUTF8 { medium in
            address.withUTF8 { address in addressHash(UnsafeRawBufferPointer(medium), UnsafeRawBufferPointer(address)) }
        }
    }

    /// The hash's first word already is SHA-256 output; mixed with a per-process seed so
    /// the table's layout is not the caller's to choose. The tag is the second word.
    private static let hashSeed = UInt64.random(in: .min ... .max)
    @inline(__always) private static func hashHash(_ words: (UInt64, UInt64, UInt64, UInt64)) -> UInt64 {
        ((words.0 ^ hashSeed) &* 0x9E37_79B9_7F4A_7C15) & ~0xFFFF_FFFF | (words.1 & 0xFFFF_FFFF)
    }

    // MARK: Reading

    /// The association of (medium, address).
    func entry(_ key: AssociationIndex.Key) -> Found? {
        var medium = key.medium, address = key.address
        let h = Self.addressHash(key)
        let ref: Ref? = medium.withUTF8 { medium in
            address.withUTF8 { address in
                byAddress.find(h) { ref in
                    withKey(record(ref)) { $0.elementsEqual(medium) && $1.elementsEqual(address) }
                }
            }
        }
        return ref.map { found(record($0)) }
    }

    /// The record bound to the v2 `key`, for `appendMXID`; nil when none is.
    @inline(__always)
    func ref(of key: AssociationIndex.HashKey) -> Ref? {
        let words = key.words
        return byHash.find(Self.hashHash(words)) { ref in
            let record = record(ref)
            return record.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == words.0
                && record.loadUnaligned(fromByteOffset: 16, as: UInt64.self) == words.1
                && record.loadUnaligned(fromByteOffset: 24, as: UInt64.self) == words.2
                && record.loadUnaligned(fromByteOffset: 32, as: UInt64.self) == words.3
        }
    }

    /// Appends the record's mxid as a JSON string.
    @inline(__always)
    func appendMXID(_ ref: Ref, to out: inout [UInt8]) {
        let record = record(ref)
        let layout = Layout(record)
        let mxid = UnsafeRawBufferPointer(start: record + layout.mxidOffset, count: layout.mxidLength)
        if layout.flags & Self.escapeMXID != 0 {
            CanonicalJSON.writeString(String(decoding: mxid, as: UTF8.self), into: &out)
        } else {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: mxid)
            out.append(UInt8(ascii: "\""))
        }
    }

    /// The mxid bound to the v2 `key` (tests and diagnostics).
    subscript(key: AssociationIndex.HashKey) -> String? {
        ref(of: key).map { found(record($0)).mxid }
    }

    /// Reads the home slot of every key, then the record of every slot whose tag matches,
    /// in loops with nothing else in them, so the processor has many of these cache misses
    /// in flight at once and the lookups that follow find their lines in cache. Returns 0
    /// or 1, for the caller to use (so the reads are not optimised away).
    func warm(_ keys: [AssociationIndex.HashKey?]) -> Int {
        var any: UInt64 = 0
        for case let key? in keys { any |= byHash.home(Self.hashHash(key.words)) }
        for case let key? in keys {
            let h = Self.hashHash(key.words)
            let slot = byHash.home(h)
            if slot != 0, UInt32(truncatingIfNeeded: slot) == Slots.tag(h) {
                any |= record(Ref(truncatingIfNeeded: slot >> 32)).loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            }
        }
        return any == 0 ? 0 : 1
    }

    // MARK: Writing

    /// Binds (medium, address) as `found` says (with its v2 hash), or unbinds it (nil).
    func apply(_ key: AssociationIndex.Key, _ found: Found?, hash: AssociationIndex.HashKey?) {
        remove(key)
        guard let found else { return }
        var medium = key.medium, address = key.address, mxid = found.mxid
        let mediumBytes = medium.withUTF8 { Array($0) }
        let flagMedium = mediumBytes.withUnsafeBytes(Self.mediumFlag)
        var flags = flagMedium
        if hash != nil { flags |= Self.hasHash }
        if found.notBefore != found.ts { flags |= Self.ownNotBefore }
        if mxid.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) { flags |= Self.escapeMXID }
        let mediumLength = flagMedium == 0 ? min(mediumBytes.count, 255) : 0
        let addressLength = min(address.utf8.count, Int(UInt16.max)), mxidLength = min(mxid.utf8.count, Int(UInt16.max))
        var layout = Layout(flags: flags, mediumLength: mediumLength, addressLength: addressLength, mxidLength: mxidLength)
        let ref = allocate(layout.size)
        let record = self.record(ref)
        record.storeBytes(of: flags, as: UInt8.self)
        record.storeBytes(of: UInt8(mediumLength), toByteOffset: 1, as: UInt8.self)
        record.storeBytes(of: UInt16(addressLength), toByteOffset: 2, as: UInt16.self)
        record.storeBytes(of: UInt16(mxidLength), toByteOffset: 4, as: UInt16.self)
        if let words = hash?.words {
            record.storeBytes(of: words.0, toByteOffset: 8, as: UInt64.self)
            record.storeBytes(of: words.1, toByteOffset: 16, as: UInt64.self)
            record.storeBytes(of: words.2, toByteOffset: 24, as: UInt64.self)
            record.storeBytes(of: words.3, toByteOffset: 32, as: UInt64.self)
        }
        layout = Layout(record)
        record.storeBytes(of: found.ts, toByteOffset: layout.timesOffset, as: Int64.self)
        record.storeBytes(of: found.notAfter, toByteOffset: layout.timesOffset + 8, as: Int64.self)
        if flags & Self.ownNotBefore != 0 { record.storeBytes(of: found.notBefore, toByteOffset: layout.timesOffset + 16, as: Int64.self) }
        mediumBytes.withUnsafeBytes { (record + layout.mediumOffset).copyMemory(from: $0.baseAddress!, byteCount: mediumLength) }
        address.withUTF8 { (record + layout.addressOffset).copyMemory(from: $0.baseAddress!, byteCount: addressLength) }
        mxid.withUTF8 { (record + layout.mxidOffset).copyMemory(from: $0.baseAddress!, byteCount: mxidLength) }

        count += 1
        if (byAddress.occupied + 1) * 10 > byAddress.capacity * 7 { byAddress = regrown(byAddress, by: addressHash(of:)) }
        byAddress.insert(Self.addressHash(key), ref)
        if let hash {
            if (byHash.occupied + 1) * 10 > byHash.capacity * 7 { byHash = regrown(byHash, by: hashHash(of:)) }
            byHash.insert(Self.hashHash(hash.words), ref)
        }
        if garbageBytes > 1 << 20, garbageBytes > liveBytes { compact() }
    }

    private func addressHash(of ref: Ref) -> UInt64 { withKey(record(ref), Self.addressHash) }
    private func hashHash(of ref: Ref) -> UInt64 { hashWords(record(ref)).map(Self.hashHash) ?? 0 }

    /// Unbinds (medium, address); its record becomes garbage.
    func remove(_ key: AssociationIndex.Key) {
        var medium = key.medium, address = key.address
        let removed: Ref? = medium.withUTF8 { medium in
            address.withUTF8 { address in
                byAddress.remove(Self.addressHash(key), where: { ref in
                    withKey(record(ref)) { $0.elementsEqual(medium) && $1.elementsEqual(address) }
                }, home: addressHash(of:))
            }
        }
        guard let ref = removed else { return }
        let gone = record(ref)
        if let words = hashWords(gone) {
            _ = byHash.remove(Self.hashHash(words), where: { $0 == ref }, home: hashHash(of:))
        }
        let size = Layout(gone).size
        garbageBytes += size
        liveBytes -= size
        count -= 1
    }

    private func regrown(_ slots: Slots, by hash: (Ref) -> UInt64) -> Slots {
        var grown = Slots(capacity: slots.capacity * 2)
        slots.forEach { ref in grown.insert(hash(ref), ref) }
        slots.deallocate()
        return grown
    }

    /// Copies the live records into fresh chunks and rebuilds both tables.
    private func compact() {
        var refs: [Ref] = []
        refs.reserveCapacity(count)
        byAddress.forEach { refs.append($0) }
        let oldChunks = chunks
        chunks = []
        usedInLast = Self.chunkSize
        liveBytes = 0
        garbageBytes = 0
        let oldAddress = byAddress, oldHash = byHash
        byAddress = Slots(capacity: oldAddress.capacity)
        byHash = Slots(capacity: oldHash.capacity)
        for old in refs {
            let source = oldChunks[Int(old >> UInt32(Self.offsetBits))] + Int(old & ((1 << UInt32(Self.offsetBits)) - 1)) << 3
            let size = Layout(source).size
            let ref = allocate(size)
            record(ref).copyMemory(from: source, byteCount: size)
            byAddress.insert(addressHash(of: ref), ref)
            if let words = hashWords(source) { byHash.insert(Self.hashHash(words), ref) }
        }
        oldAddress.deallocate()
        oldHash.deallocate()
        for chunk in oldChunks { chunk.deallocate() }
    }
}

extension AssociationTable {
    /// An open-addressing table (linear probing) of 8-byte slots: the record reference in
    /// the high half, a 32-bit tag of the key (never 0) in the low half; 0 is empty.
    /// Removal shifts the rest of the run back, so no tombstones pile up.
    struct Slots {
        private(set) var slots: UnsafeMutablePointer<UInt64>
        let capacity: Int
        private let shift: UInt64
        private(set) var occupied = 0

        init(capacity: Int) {
            let capacity = Swift.max(16, capacity).nextPowerOfTwo
            self.capacity = capacity
            shift = UInt64(64 - capacity.trailingZeroBitCount)
            slots = .allocate(capacity: capacity)
            slots.initialize(repeating: 0, count: capacity)
        }

        func deallocate() { slots.deallocate() }

        @inline(__always) static func tag(_ h: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: h) | 1 }
        @inline(__always) private func index(_ h: UInt64) -> Int { Int(truncatingIfNeeded: (h &* 0x9E37_79B9_7F4A_7C15) >> shift) }
        /// The home slot's content (for warming caches).
        @inline(__always) func home(_ h: UInt64) -> UInt64 { slots[index(h)] }

        /// The reference whose tag matches and that `matches` accepts.
        @inline(__always) func find(_ h: UInt64, _ matches: (Ref) -> Bool) -> Ref? {
            let tag = Self.tag(h), mask = capacity - 1
            var at = index(h)
            while true {
                let slot = slots[at]
                if slot == 0 { return nil }
                if UInt32(truncatingIfNeeded: slot) == tag, matches(Ref(truncatingIfNeeded: slot >> 32)) {
                    return Ref(truncatingIfNeeded: slot >> 32)
                }
                at = (at &+ 1) & mask
            }
        }

        mutating func insert(_ h: UInt64, _ ref: Ref) {
            let mask = capacity - 1
            var at = index(h)
            while slots[at] != 0 { at = (at &+ 1) & mask }
            slots[at] = UInt64(ref) << 32 | UInt64(Self.tag(h))
            occupied += 1
        }

        /// Removes the entry `matches` accepts; `home` gives the hash of any other entry,
        /// to shift the run back.
        mutating func remove(_ h: UInt64, where matches: (Ref) -> Bool, home: (Ref) -> UInt64) -> Ref? {
            let mask = capacity - 1, tag = Self.tag(h)
            var hole = index(h)
            while true {
                let slot = slots[hole]
                if slot == 0 { return nil }
                if UInt32(truncatingIfNeeded: slot) == tag, matches(Ref(truncatingIfNeeded: slot >> 32)) { break }
                hole = (hole &+ 1) & mask
            }
            let removed = Ref(truncatingIfNeeded: slots[hole] >> 32)
            occupied -= 1
            var at = hole
            while true {
                at = (at &+ 1) & mask
                let slot = slots[at]
                if slot == 0 { break }
                let wanted = index(home(Ref(truncatingIfNeeded: slot >> 32)))
                if (at &- wanted) & mask >= (at &- hole) & mask {
                    slots[hole] = slot
                    hole = at
                }
            }
            slots[hole] = 0
            return removed
        }

        func forEach(_ body: (Ref) -> Void) {
            for at in 0..<capacity where slots[at] != 0 { body(Ref(truncatingIfNeeded: slots[at] >> 32)) }
        }
    }
}

/// The records one lookup already answered, so an address asked twice is answered once:
/// a small open-addressing set of references, cheaper than `Set` (no Hasher).
struct AnsweredSlots {
    private var slots: [Int64]
    private let shift: UInt64

    init(expected: Int) {
        let capacity = max(16, (expected * 2).nextPowerOfTwo)
        slots = Array(repeating: -1, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
    }

    /// True the first time `slot` is inserted.
    @inline(__always)
    mutating func insert(_ slot: AssociationTable.Ref) -> Bool {
        let mask = slots.count - 1, value = Int64(slot)
        var index = Int(truncatingIfNeeded: (UInt64(slot) &* 0x9E37_79B9_7F4A_7C15) >> shift)
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
