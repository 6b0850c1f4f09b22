#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging

/// Writes one JSON object per line to standard output:
/// `{"ts":"2026-11-22T10:00:00.123Z","level":"info","logger":"user-identity","msg":"…",…metadata}`.
/// Each line goes out in one write(2), so lines of concurrent requests never interleave.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(
        label: String, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil,
        output: (@Sendable ([UInt8]) -> Void)? = nil
    ) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
        if let output { self.output = output }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Written straight into one buffer: this runs once per request for the access log,
        // so no intermediate dictionary, no sorting and no Foundation formatting.
        var line: [UInt8] = []
        line.reserveCapacity(320)
        line.append(contentsOf: #"{"ts":""#.utf8)
        Self.appendTimestamp(into: &line)
        line.append(contentsOf: #"","level":""#.utf8)
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(contentsOf: #"","logger":"#.utf8)
        CanonicalJSON.writeString(label, into: &line)
        line.append(contentsOf: #","msg":"#.utf8)
        CanonicalJSON.writeString(event.message.description, into: &line)

        // Later sources win, as swift-log merges them: handler, provider, then the event.
        let provided = metadataProvider?.get() ?? [:]
        let extra = event.metadata ?? [:]
        func member(_ key: String, _ value: Logger.Metadata.Value) {
            line.append(UInt8(ascii: ","))
            CanonicalJSON.writeString(key, into: &line)
            line.append(UInt8(ascii: ":"))
            CanonicalJSON.write(Self.json(value), into: &line)
        }
        for (key, value) in metadata where provided[key] == nil && extra[key] == nil { member(key, value) }
        for (key, value) in provided where extra[key] == nil { member(key, value) }
        for (key, value) in extra { member(key, value) }
        line.append(contentsOf: "}\n".utf8)
        output(line)
    }

    /// Where lines go: standard output, one write(2) per line.
    var output: @Sendable ([UInt8]) -> Void = { line in
        line.withUnsafeBufferPointer { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let string): return .string(string)
        case .stringConvertible(let convertible):
            if let number = convertible as? Int { return .number(Double(number)) }
            if let number = convertible as? Double { return .number(number) }
            if let flag = convertible as? Bool { return .bool(flag) }
            return .string(convertible.description)
        case .array(let values): return .array(values.map(json))
        case .dictionary(let values): return .object(values.mapValues(json))
        }
    }

    /// RFC 3339 UTC with milliseconds, written as digits (Foundation's formatters are
    /// slow and take a lock).
    static func appendTimestamp(into line: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                line.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        line.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        line.append(UInt8(ascii: "."))
        digits(Int(now.tv_nsec / 1_000_000), 3)
        line.append(UInt8(ascii: "Z"))
    }
}

/// The log formats an operator can choose with `LOG_FORMAT`.
public enum LogFormat: String, Sendable, CaseIterable {
    case json
    case text
}

extension Logger.Level {
    /// Reads `LOG_LEVEL` values such as `info`, `debug`, `warning`.
    public init(configured name: String) throws(ConfigurationError) {
        guard let level = Logger.Level(rawValue: name.lowercased()) else {
            let allowed = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError("LOG_LEVEL", "must be one of \(allowed) (got \"\(name)\")")
        }
        self = level
    }
}
