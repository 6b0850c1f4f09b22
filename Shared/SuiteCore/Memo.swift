/// A bounded memo of a pure function's answers, read side by side (`ReadMostly`). When
/// full it starts over: a busy service refills it with the keys in use within a moment.
public final class Memo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    public let capacity: Int
    private let entries = ReadMostly<[Key: Value]>([:])

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    public func get(_ key: Key) -> Value? {
        entries.read { $0[key] }
    }

    public func put(_ key: Key, _ value: Value) {
        entries.write { entries in
            if entries.count >= capacity, entries[key] == nil { entries.removeAll(keepingCapacity: true) }
            entries[key] = value
        }
    }

    /// How many answers it holds.
    public var count: Int { entries.read { $0.count } }
}
