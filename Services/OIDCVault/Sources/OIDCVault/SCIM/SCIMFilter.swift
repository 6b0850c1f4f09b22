import Foundation
import SuiteCore

/// A SCIM filter (RFC 7644 §3.4.2.2): `eq ne co sw ew pr gt ge lt le`, `and or not`,
/// parentheses, attribute paths with sub-attributes and value filters
/// (`emails[type eq "work"].value`), evaluated against a resource's JSON. Attribute
/// names are case-insensitive; strings compare case-insensitively except the
/// case-exact attributes (`id`, `externalId`, `meta.version`).
indirect enum SCIMFilter: Sendable, Equatable {
    case compare(SCIMPath, SCIMFilter.Operator, JSONValue)
    case present(SCIMPath)
    case and(SCIMFilter, SCIMFilter)
    case or(SCIMFilter, SCIMFilter)
    case not(SCIMFilter)
    /// `emails[type eq "work" and value co "@example.com"]`: some element matches.
    case valuePath(String, SCIMFilter)

    enum Operator: String, Sendable, CaseIterable {
        case eq, ne, co, sw, ew, gt, ge, lt, le
    }

    struct ParseError: Error, Equatable {
        let message: String
    }

    static let maxLength = 2_048

    static func parse(_ text: String) throws(ParseError) -> SCIMFilter {
        guard text.utf8.count <= maxLength else { throw ParseError(message: "The filter is longer than \(maxLength) bytes") }
        var parser = Parser(tokens: try Lexer.tokens(text))
        let filter = try parser.filter(depth: 0)
        guard parser.atEnd else { throw ParseError(message: "Unexpected \(parser.peekDescription) in the filter") }
        return filter
    }

    /// Whether `resource` matches.
    func matches(_ resource: [String: JSONValue]) -> Bool {
        switch self {
        case .and(let left, let right): return left.matches(resource) && right.matches(resource)
        case .or(let left, let right): return left.matches(resource) || right.matches(resource)
        case .not(let inner): return !inner.matches(resource)
        case .present(let path): return path.values(in: resource).contains { !Self.isEmpty($0) }
        case .compare(let path, let op, let literal):
            let exact = path.isCaseExact
            return path.values(in: resource).contains { Self.compare($0, op, literal, caseExact: exact) }
        case .valuePath(let attribute, let inner):
            guard let value = SCIMPath.member(resource, attribute) else { return false }
            let elements: [JSONValue] = if case .array(let items) = value { items } else { [value] }
            return elements.contains { element in
                guard case .object(let object) = element else { return false }
                return inner.matches(object)
            }
        }
    }

    /// Seconds since 1970 of an RFC 3339 date-time, or nil for any other text.
    static func instant(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.count <= 40, bytes[4] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t")
        else { return nil }
        var fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        fractional.timeZone = TimeZone(identifier: "UTC")!
        if let date = try? fractional.parse(text) { return date.timeIntervalSince1970 }
        var whole = Date.ISO8601FormatStyle()
        whole.timeZone = TimeZone(identifier: "UTC")!
        return (try? whole.parse(text))?.timeIntervalSince1970
    }

    static func isEmpty(_ value: JSONValue) -> Bool {
        switch value {
        case .null: true
        case .string(let text): text.isEmpty
        case .array(let items): items.isEmpty
        case .object(let members): members.isEmpty
        default: false
        }
    }

    static func compare(_ value: JSONValue, _ op: Operator, _ literal: JSONValue, caseExact: Bool) -> Bool {
        switch (value, literal) {
        case (.string(let a), .string(let b)):
            // dateTime attributes compare as instants (`…34.000Z` eq `…34Z`).
            if let x = Self.instant(a), let y = Self.instant(b), op != .co, op != .sw, op != .ew {
                return compare(.number(x), op, .number(y), caseExact: true)
            }
            let left = caseExact ? a : a.lowercased(), right = caseExact ? b : b.lowercased()
            switch op {
            case .eq: return left == right
            case .ne: return left != right
            case .co: return left.contains(right)
            case .sw: return left.hasPrefix(right)
            case .ew: return left.hasSuffix(right)
            case .gt: return left > right
            case .ge: return left >= right
            case .lt: return left < right
            case .le: return left <= right
            }
        case (.number(let a), .number(let b)):
            switch op {
            case .eq: return a == b
            case .ne: return a != b
            case .gt: return a > b
            case .ge: return a >= b
            case .lt: return a < b
            case .le: return a <= b
            case .co, .sw, .ew: return false
            }
        case (.bool(let a), .bool(let b)):
            return op == .eq ? a == b : op == .ne ? a != b : false
        case (_, .null):
            return op == .eq ? isEmpty(value) : op == .ne ? !isEmpty(value) : false
        default:
            return op == .ne
        }
    }

    // MARK: Lexing and parsing

    enum Token: Equatable {
        case word(String)
        case string(String)
        case number(Double)
        case open, close, openBracket, closeBracket
    }

    enum Lexer {
        static func tokens(_ text: String) throws(ParseError) -> [Token] {
            var tokens: [Token] = []
            let scalars = Array(text.unicodeScalars)
            var index = 0
            while index < scalars.count {
                let scalar = scalars[index]
                switch scalar {
                case " ", "\t", "\n", "\r": index += 1
                case "(": tokens.append(.open); index += 1
                case ")": tokens.append(.close); index += 1
                case "[": tokens.append(.openBracket); index += 1
                case "]": tokens.append(.closeBracket); index += 1
                case "\"":
                    // A JSON string: find its end, honouring escapes, and let the JSON parser read it.
                    var end = index + 1
                    var escaped = false
                    while end < scalars.count {
                        if escaped { escaped = false } else if scalars[end] == "\\" { escaped = true } else if scalars[end] == "\"" { break }
                        end += 1
                    }
                    guard end < scalars.count else { throw ParseError(message: "An unterminated string in the filter") }
                    var literal = String.UnicodeScalarView()
                    literal.append(contentsOf: scalars[index...end])
                    guard case .string(let value)? = try? JSONParser.parse(Array(String(literal).utf8)) else {
                        throw ParseError(message: "A malformed string in the filter")
                    }
                    tokens.append(.string(value))
                    index = end + 1
                default:
                    var end = index
                    while end < scalars.count, !" \t\n\r()[]\"".unicodeScalars.contains(scalars[end]) { end += 1 }
                    var word = String.UnicodeScalarView()
                    word.append(contentsOf: scalars[index..<end])
                    let text = String(word)
                    if let number = Double(text), text.first.map({ $0.isNumber || $0 == "-" }) == true {
                        tokens.append(.number(number))
                    } else {
                        tokens.append(.word(text))
                    }
                    index = end
                }
            }
            return tokens
        }
    }

    struct Parser {
        let tokens: [Token]
        var position = 0

        init(tokens: [Token]) { self.tokens = tokens }

        var atEnd: Bool { position >= tokens.count }
        var peekDescription: String {
            guard position < tokens.count else { return "end" }
            return switch tokens[position] {
            case .word(let word): "'\(word)'"
            case .string(let text): "\"\(text)\""
            case .number(let number): "\(number)"
            case .open: "'('"
            case .close: "')'"
            case .openBracket: "'['"
            case .closeBracket: "']'"
            }
        }

        mutating func keyword(_ word: String) -> Bool {
            guard position < tokens.count, case .word(let next) = tokens[position], next.lowercased() == word else { return false }
            position += 1
            return true
        }

        mutating func expect(_ token: Token) throws(ParseError) {
            guard position < tokens.count, tokens[position] == token else { throw ParseError(message: "Expected \(token) but found \(peekDescription)") }
            position += 1
        }

        mutating func filter(depth: Int) throws(ParseError) -> SCIMFilter {
            guard depth < 32 else { throw ParseError(message: "The filter nests too deeply") }
            var left = try term(depth: depth)
            while keyword("or") { left = .or(left, try term(depth: depth)) }
            return left
        }

        mutating func term(depth: Int) throws(ParseError) -> SCIMFilter {
            var left = try factor(depth: depth)
            while keyword("and") { left = .and(left, try factor(depth: depth)) }
            return left
        }

        mutating func factor(depth: Int) throws(ParseError) -> SCIMFilter {
            if keyword("not") {
                try expect(.open)
                let inner = try filter(depth: depth + 1)
                try expect(.close)
                return .not(inner)
            }
            if position < tokens.count, tokens[position] == .open {
                position += 1
                let inner = try filter(depth: depth + 1)
                try expect(.close)
                return inner
            }
            guard position < tokens.count, case .word(let name) = tokens[position] else {
                throw ParseError(message: "Expected an attribute but found \(peekDescription)")
            }
            position += 1
            guard SCIMPath.isAttributePath(name) else { throw ParseError(message: "'\(name)' is not an attribute path") }
            if position < tokens.count, tokens[position] == .openBracket {
                position += 1
                let inner = try filter(depth: depth + 1)
                try expect(.closeBracket)
                return .valuePath(name, inner)
            }
            let path = SCIMPath(name)
            guard position < tokens.count, case .word(let opWord) = tokens[position] else {
                throw ParseError(message: "Expected an operator after '\(name)'")
            }
            position += 1
            if opWord.lowercased() == "pr" { return .present(path) }
            guard let op = Operator(rawValue: opWord.lowercased()) else { throw ParseError(message: "'\(opWord)' is not a filter operator") }
            guard position < tokens.count else { throw ParseError(message: "Expected a value after '\(opWord)'") }
            let value: JSONValue
            switch tokens[position] {
            case .string(let text): value = .string(text)
            case .number(let number): value = .number(number)
            case .word(let word) where ["true", "false", "null"].contains(word.lowercased()):
                value = word.lowercased() == "null" ? .null : .bool(word.lowercased() == "true")
            default: throw ParseError(message: "Expected a value but found \(peekDescription)")
            }
            position += 1
            return .compare(path, op, value)
        }
    }
}

/// An attribute path: `userName`, `name.givenName`, `meta.lastModified`, with the core
/// schema URN prefix allowed (`urn:ietf:params:scim:schemas:core:2.0:User:userName`).
struct SCIMPath: Sendable, Equatable {
    let parts: [String]

    init(_ text: String) {
        var text = text
        for urn in ["urn:ietf:params:scim:schemas:core:2.0:User:", "urn:ietf:params:scim:schemas:core:2.0:Group:"]
        where text.lowercased().hasPrefix(urn.lowercased()) {
            text = String(text.dropFirst(urn.count))
        }
        parts = text.split(separator: ".").map(String.init)
    }

    static func isAttributePath(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 256 && text.first?.isLetter == true
            && text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == ":" || $0 == "-" || $0 == "$" }
    }

    var isCaseExact: Bool {
        let lower = parts.map { $0.lowercased() }
        return lower == ["id"] || lower == ["externalid"] || lower == ["meta", "version"] || lower.last == "$ref"
    }

    /// Every value at this path (multi-valued attributes flattened).
    func values(in resource: [String: JSONValue]) -> [JSONValue] {
        var current: [JSONValue] = [.object(resource)]
        for part in parts {
            var next: [JSONValue] = []
            for value in current {
                switch value {
                case .object(let object): if let member = Self.member(object, part) { next.append(member) }
                case .array(let items):
                    for case .object(let object) in items { if let member = Self.member(object, part) { next.append(member) } }
                default: break
                }
            }
            current = next
        }
        return current.flatMap { value -> [JSONValue] in
            if case .array(let items) = value {
                // A multi-valued attribute of complex values compares by its `value`.
                return items.map { item in if case .object(let object) = item, let inner = object["value"] { return inner } else { return item } }
            }
            return [value]
        }
    }

    /// A member by case-insensitive name.
    static func member(_ object: [String: JSONValue], _ name: String) -> JSONValue? {
        if let exact = object[name] { return exact }
        let lower = name.lowercased()
        return object.first { $0.key.lowercased() == lower }?.value
    }
}
