public import Foundation

/// A setting that is missing or wrong. The executable prints it as one line naming the
/// variable and stops, so an operator sees at once what to fix.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let variable: String
    public let problem: String

    public init(_ variable: String, _ problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { "\(variable): \(problem)" }
}

/// Reads settings from environment variables. `NAME_FILE` names a file whose content
/// (trailing newline removed) is the value of `NAME`, for secrets mounted as files.
/// Read once at start into a `Configuration`; nothing deeper reads the environment.
public struct ConfigReader: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    /// The raw value, from `NAME` or the file named by `NAME_FILE`; blank counts as unset.
    public func string(_ name: String) throws(ConfigurationError) -> String? {
        if let value = values[name], !value.isEmpty { return value }
        guard let path = values[name + "_FILE"], !path.isEmpty else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(name + "_FILE", "cannot read the file \(path)")
        }
        var text = String(decoding: data, as: UTF8.self)
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return text.isEmpty ? nil : text
    }

    public func string(_ name: String, default value: String) throws(ConfigurationError) -> String {
        try string(name) ?? value
    }

    public func required(_ name: String) throws(ConfigurationError) -> String {
        guard let value = try string(name) else { throw ConfigurationError(name, "is required and not set") }
        return value
    }

    public func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let text = try string(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw ConfigurationError(
                name, "must be a whole number from \(range.lowerBound) to \(range.upperBound) (got \"\(text)\")")
        }
        return number
    }

    public func bool(_ name: String, default value: Bool) throws(ConfigurationError) -> Bool {
        guard let text = try string(name) else { return value }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError(name, "must be true or false (got \"\(text)\")")
        }
    }

    /// An absolute http(s) URL, without a trailing slash.
    public func url(_ name: String, default value: String? = nil) throws(ConfigurationError) -> String? {
        guard let text = try string(name) ?? value else { return nil }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            url.host != nil
        else {
            throw ConfigurationError(name, "must be an absolute http or https URL (got \"\(text)\")")
        }
        var trimmed = text
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }

    public func choice<T: RawRepresentable<String> & CaseIterable>(
        _ name: String, default value: T
    ) throws(ConfigurationError) -> T {
        guard let text = try string(name) else { return value }
        guard let choice = T(rawValue: text.lowercased()) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(name, "must be one of \(allowed) (got \"\(text)\")")
        }
        return choice
    }
}
