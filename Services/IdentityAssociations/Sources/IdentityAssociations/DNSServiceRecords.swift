import CResolver
import Foundation
import NIOPosix
import SuiteCore

/// One DNS SRV record (RFC 2782).
struct ServiceRecord: Sendable, Equatable {
    var priority: UInt16
    var weight: UInt16
    var port: UInt16
    var target: String
}

/// DNS SRV look-ups, the one DNS question homeserver resolution asks that `getaddrinfo`
/// cannot, through the system resolver (glibc's `res_nquery`, `CResolver`): the name
/// servers and options of `/etc/resolv.conf` (timeout, attempts, rotate), EDNS0, and TCP
/// when an answer does not fit in a datagram. The blocking call runs on NIO's thread
/// pool, never on an event loop.
enum DNSServiceRecords {
    /// The SRV records of `name` (`_matrix-fed._tcp.example.org`); none when the name has
    /// none, says the service is absent (target `.`), or no name server answers.
    /// `nameserver` (`127.0.0.1:5353`, tests) replaces the system's; `timeout` is per try,
    /// in whole seconds (the resolver's unit), the system's when nil.
    static func lookup(_ name: String, nameserver: String? = nil, timeout: Duration? = nil) async -> [ServiceRecord] {
        let server = nameserver.map { text -> (String, Int32) in
            let parts = text.split(separator: ":")
            return (String(parts[0]), parts.count == 2 ? Int32(parts[1]) ?? 53 : 53)
        }
        let seconds = timeout.map { Int32(max(1, $0.components.seconds)) } ?? 0
        let answer = try? await NIOThreadPool.singleton.runIfActive { () -> [UInt8]? in
            var buffer = [UInt8](repeating: 0, count: 65_535)
            let count = suite_resolve_srv(name, server?.0, server?.1 ?? 53, seconds, &buffer, Int32(buffer.count))
            return count > 12 ? Array(buffer[..<Int(count)]) : nil
        }
        guard let answer = answer ?? nil else { return [] }
        // The resolver matched the answer to its query; read it under its own id.
        return parse(answer, id: UInt16(answer[0]) << 8 | UInt16(answer[1])) ?? []
    }

    /// The records in the order to try them: lowest priority first, and within one
    /// priority a weighted random order (RFC 2782).
    static func ordered(_ records: [ServiceRecord], random: (UInt32) -> UInt32 = { UInt32.random(in: 0...$0) }) -> [ServiceRecord] {
        var ordered: [ServiceRecord] = []
        for priority in Set(records.map(\.priority)).sorted() {
            var group = records.filter { $0.priority == priority }.sorted { $0.weight < $1.weight }
            while !group.isEmpty {
                let total = group.reduce(UInt32(0)) { $0 + UInt32($1.weight) }
                let pick = random(total)
                var running: UInt32 = 0
                let index = group.firstIndex { running += UInt32($0.weight); return running >= pick } ?? 0
                ordered.append(group.remove(at: index))
            }
        }
        return ordered
    }

    // MARK: Wire format (RFC 1035)

    /// The SRV records of an answer to query `id`; nil when it is not a usable answer
    /// (another id, an error code, truncated, malformed). "No such name" is no records.
    static func parse(_ packet: [UInt8], id: UInt16) -> [ServiceRecord]? {
        var reader = Reader(bytes: packet)
        guard let answerID = reader.u16(), answerID == id, let flags = reader.u16(), flags & 0x8000 != 0, flags & 0x0200 == 0,
            let questions = reader.u16(), let answers = reader.u16(), reader.u16() != nil, reader.u16() != nil
        else { return nil }
        switch flags & 0x000f {
        case 0: break
        case 3: return []  // NXDOMAIN
        default: return nil
        }
        for _ in 0..<questions {
            guard reader.name() != nil, reader.skip(4) else { return nil }
        }
        var records: [ServiceRecord] = []
        for _ in 0..<answers {
            guard reader.name() != nil, let type = reader.u16(), let klass = reader.u16(), reader.skip(4), let length = reader.u16() else { return nil }
            let end = reader.offset + Int(length)
            guard end <= packet.count else { return nil }
            if type == 33, klass == 1 {
                guard let priority = reader.u16(), let weight = reader.u16(), let port = reader.u16(), let target = reader.name() else { return nil }
                // A target of "." says the service is decidedly not available here.
                if !target.isEmpty { records.append(ServiceRecord(priority: priority, weight: weight, port: port, target: target)) }
            }
            reader.offset = end
        }
        return records
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func u16() -> UInt16? {
            guard offset + 2 <= bytes.count else { return nil }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }

        mutating func skip(_ count: Int) -> Bool {
            guard offset + count <= bytes.count else { return false }
            offset += count
            return true
        }

        /// A domain name, following compression pointers (128 steps at most, so a
        /// pointer loop ends).
        mutating func name() -> String? {
            var labels: [String] = []
            var position = offset
            var jumped = false
            for _ in 0..<128 {
                guard position < bytes.count else { return nil }
                let length = Int(bytes[position])
                if length == 0 {
                    if !jumped { offset = position + 1 }
                    return labels.joined(separator: ".")
                }
                if length & 0xc0 == 0xc0 {
                    guard position + 1 < bytes.count else { return nil }
                    if !jumped { offset = position + 2 }
                    jumped = true
                    position = (length & 0x3f) << 8 | Int(bytes[position + 1])
                    continue
                }
                guard length <= 63, position + 1 + length <= bytes.count else { return nil }
                labels.append(String(decoding: bytes[(position + 1)...(position + length)], as: UTF8.self))
                position += 1 + length
            }
            return nil
        }
    }
}
