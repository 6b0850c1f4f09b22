import Foundation

/// The CBOR (RFC 8949) that WebAuthn sends: attestation objects and COSE keys. Definite
/// lengths only, no tags, bounded depth and size; anything else is a `CBOR.Failure`,
/// never a crash.
enum CBOR: Equatable, Sendable {
    case unsigned(UInt64)
    case negative(Int64)
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    case map([(CBOR, CBOR)])
    case bool(Bool)
    case null
    case float(Double)

    struct Failure: Error, Equatable {
        let reason: String
    }

    static func == (lhs: CBOR, rhs: CBOR) -> Bool {
        switch (lhs, rhs) {
        case (.unsigned(let a), .unsigned(let b)): a == b
        case (.negative(let a), .negative(let b)): a == b
        case (.bytes(let a), .bytes(let b)): a == b
        case (.text(let a), .text(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.map(let a), .map(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.bool(let a), .bool(let b)): a == b
        case (.null, .null): true
        case (.float(let a), .float(let b)): a == b
        default: false
        }
    }

    /// The integer, for map keys such as COSE's labels (1, 3, -1, -2…).
    var int: Int64? {
        switch self {
        case .unsigned(let value): value <= UInt64(Int64.max) ? Int64(value) : nil
        case .negative(let value): value
        default: nil
        }
    }

    subscript(key: CBOR) -> CBOR? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    subscript(text key: String) -> CBOR? { self[.text(key)] }
    subscript(int key: Int64) -> CBOR? { self[key >= 0 ? .unsigned(UInt64(key)) : .negative(key)] }

    /// Decodes one item from the start of `bytes`; `consumed` says how many bytes it took.
    static func decode(_ bytes: [UInt8], consumed: inout Int) throws(Failure) -> CBOR {
        var reader = Reader(bytes: bytes)
        let value = try reader.item(depth: 0)
        consumed = reader.position
        return value
    }

    /// Decodes exactly one item filling `bytes`.
    static func decode(_ bytes: [UInt8]) throws(Failure) -> CBOR {
        var consumed = 0
        let value = try decode(bytes, consumed: &consumed)
        guard consumed == bytes.count else { throw Failure(reason: "bytes after the CBOR item") }
        return value
    }

    struct Reader {
        let bytes: [UInt8]
        var position = 0

        mutating func byte() throws(Failure) -> UInt8 {
            guard position < bytes.count else { throw Failure(reason: "truncated") }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func take(_ count: UInt64) throws(Failure) -> [UInt8] {
            guard count <= UInt64(bytes.count - position) else { throw Failure(reason: "truncated") }
            let start = position
            position += Int(count)
            return Array(bytes[start..<position])
        }

        mutating func argument(_ info: UInt8) throws(Failure) -> UInt64 {
            switch info {
            case 0..<24: return UInt64(info)
            case 24: return UInt64(try byte())
            case 25, 26, 27:
                let count = 1 << Int(info - 24)
                var value: UInt64 = 0
                for _ in 0..<count { value = value << 8 | UInt64(try byte()) }
                return value
            default: throw Failure(reason: "indefinite lengths and reserved values are not accepted")
            }
        }

        mutating func item(depth: Int) throws(Failure) -> CBOR {
            guard depth < 16 else { throw Failure(reason: "nested too deeply") }
            let initial = try byte()
            let major = initial >> 5, info = initial & 0x1F
            switch major {
            case 0: return .unsigned(try argument(info))
            case 1:
                let value = try argument(info)
                guard value < UInt64(Int64.max) else { throw Failure(reason: "negative integer out of range") }
                return .negative(-1 - Int64(value))
            case 2: return .bytes(try take(try argument(info)))
            case 3:
                guard let text = String(validating: try take(try argument(info)), as: UTF8.self) else { throw Failure(reason: "text is not UTF-8") }
                return .text(text)
            case 4:
                let count = try argument(info)
                guard count <= 1_024 else { throw Failure(reason: "array too long") }
                var items: [CBOR] = []
                for _ in 0..<count { items.append(try item(depth: depth + 1)) }
                return .array(items)
            case 5:
                let count = try argument(info)
                guard count <= 256 else { throw Failure(reason: "map too long") }
                var pairs: [(CBOR, CBOR)] = []
                for _ in 0..<count { pairs.append((try item(depth: depth + 1), try item(depth: depth + 1))) }
                return .map(pairs)
            case 7:
                switch info {
                case 20: return .bool(false)
                case 21: return .bool(true)
                case 22, 23: return .null
                case 25:
                    let half = UInt16(try argument(25))
                    return .float(Double(Float16(bitPattern: half)))
                case 26: return .float(Double(Float(bitPattern: UInt32(try argument(26)))))
                case 27: return .float(Double(bitPattern: try argument(27)))
                default: throw Failure(reason: "unsupported simple value")
                }
            default: throw Failure(reason: "tags are not accepted")
            }
        }
    }
}
