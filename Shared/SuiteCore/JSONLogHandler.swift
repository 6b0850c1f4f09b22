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

    public init(label: String, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: JSONValue] = [:]
        for (key, value) in metadata { fields[key] = Self.json(value) }
        if let provided = metadataProvider?.get() {
            for (key, value) in provided { fields[key] = Self.json(value) }
        }
        if let extra = event.metadata {
            for (key, value) in extra { fields[key] = Self.json(value) }
        }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        CanonicalJSON.writeObject(
            leading: [
                ("ts", .string(Self.timestamp())),
                ("level", .string(event.level.rawValue)),
                ("logger", .string(label)),
                ("msg", .string(event.message.description)),
            ],
            rest: fields, into: &line)
        line.append(0x0A)
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

    /// RFC 3339 UTC with milliseconds, without Foundation's formatters (slow and locked).
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
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
