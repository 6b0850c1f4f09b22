import Foundation
import NIOPosix
import SuiteCore

#if canImport(Glibc)
import Glibc
#endif

/// One DNS SRV record (RFC 2782).
struct ServiceRecord: Sendable, Equatable {
    var priority: UInt16
    var weight: UInt16
    var port: UInt16
    var target: String
}

/// DNS SRV lookups over UDP, to the system's name servers (`/etc/resolv.conf`): the one
/// DNS question homeserver resolution asks that `getaddrinfo` cannot. Blocking socket
/// calls run on NIO's thread pool, never on an event loop.
enum DNSServiceRecords {
    /// The SRV records of `name` (`_matrix-fed._tcp.example.org`); none when the name has
    /// none, says the service is absent (target `.`), or no name server answers.
    static func lookup(_ name: String, nameservers: [String] = systemNameservers(), timeout: Duration = .seconds(2)) async -> [ServiceRecord] {
        guard let query = query(for: name, id: UInt16.random(in: 0...UInt16.max)) else { return [] }
        for server in nameservers.prefix(3) {
            let answer = try? await NIOThreadPool.singleton.runIfActive { exchange(query, with: server, timeout: timeout) }
            if let answer = answer ?? nil, let records = parse(answer, id: query.id) { return records }
        }
        return []
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

    /// `nameserver` lines of `/etc/resolv.conf`, else the local resolver.
    static func systemNameservers(_ text: String? = try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) -> [String] {
        let servers = (text ?? "").split(whereSeparator: \.isNewline).compactMap { line -> String? in
            let words = line.split(whereSeparator: \.isWhitespace)
            guard words.count >= 2, words[0] == "nameserver" else { return nil }
            return String(words[1].split(separator: "%")[0])  // a scope id is not ours to use
        }
        return servers.isEmpty ? ["127.0.0.1"] : servers
    }

    // MARK: Wire format (RFC 1035)

    /// A standard query, recursion desired, for `name`'s SRV records.
    static func query(for name: String, id: UInt16) -> (id: UInt16, bytes: [UInt8])? {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") {
            let utf8 = Array(label.utf8)
            guard (1...63).contains(utf8.count) else { return nil }
            bytes.append(UInt8(utf8.count))
            bytes.append(contentsOf: utf8)
        }
        guard bytes.count <= 12 + 255 else { return nil }
        bytes.append(contentsOf: [0, 0, 33, 0, 1])  // root, QTYPE SRV, QCLASS IN
        return (id, bytes)
    }

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

    // MARK: The exchange

    /// Sends `query` to `server` (an IPv4 or IPv6 literal, port 53, or `host:port` for
    /// tests) and waits up to `timeout` for the answer with its id. Blocking.
    static func exchange(_ query: (id: UInt16, bytes: [UInt8]), with server: String, timeout: Duration) -> [UInt8]? {
        var host = server, port = "53"
        if let colon = server.lastIndex(of: ":"), server.filter({ $0 == ":" }).count == 1 {
            host = String(server[..<colon])
            port = String(server[server.index(after: colon)...])
        }
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &found) == 0, let address = found else { return nil }
        defer { freeaddrinfo(found) }
        let socket = Glibc.socket(address.pointee.ai_family, Int32(SOCK_DGRAM.rawValue), 0)
        guard socket >= 0 else { return nil }
        defer { close(socket) }
        let seconds = timeout.components.seconds
        var limit = timeval(tv_sec: Int(seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard connect(socket, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0,
            send(socket, query.bytes, query.bytes.count, 0) == query.bytes.count
        else { return nil }
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            let count = recv(socket, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }  // timed out, or refused
            // A stray datagram with another id is not our answer: keep waiting.
            if count >= 2, UInt16(buffer[0]) << 8 | UInt16(buffer[1]) == query.id { return Array(buffer[..<count]) }
        }
        return nil
    }
}
