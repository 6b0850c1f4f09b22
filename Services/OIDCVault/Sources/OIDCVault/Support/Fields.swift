import Foundation
import Hummingbird
import SuiteCore
import SuiteHTTP
import VaultZKP

/// Reads request fields the way the seed's framework (FastAPI/pydantic) validates them:
/// every problem is collected, then one 422 lists them all as
/// `{"detail":[{"loc":["body","username"],"msg":"Field required","type":"missing"}]}`.
struct Fields {
    let values: [String: JSONValue]
    let location: String
    private(set) var problems: [JSONValue] = []

    init(_ values: [String: JSONValue], location: String = "body") {
        self.values = values
        self.location = location
    }

    /// A query string read as fields (all values are strings; numbers are parsed).
    init(query request: Request) throws(AppError) {
        self.init(try request.queryForm().mapValues { .string($0) }, location: "query")
    }

    mutating func problem(_ field: String, _ message: String, type: String) {
        problems.append(["loc": [.string(location), .string(field)], "msg": .string(message), "type": .string(type)])
    }

    func check() throws(AppError) {
        if !problems.isEmpty { throw AppError.validation(problems) }
    }

    /// Checks the fields, then gives the required ones unwrapped:
    /// `let (tenant, id) = try fields.checked(tenant, id)`. A required field reads as
    /// `nil` only with a problem recorded, so after `check()` none is missing; should one
    /// be (a reading that forgot to record its problem), the caller gets a 422 naming
    /// nothing rather than the server a crash.
    ///
    /// `mutating` though it changes nothing: the compiler then refuses
    /// `fields.checked(fields.string(…))` (overlapping accesses), which would check the
    /// copy of `fields` taken before the read recorded its problem.
    mutating func checked<each Value>(_ values: repeat (each Value)?) throws(AppError) -> (repeat each Value) {
        try check()
        return (repeat try Self.present(each values))
    }

    private static func present<Value>(_ value: Value?) throws(AppError) -> Value {
        guard let value else { throw AppError.validation([["msg": "Field required", "type": "missing"]]) }
        return value
    }

    /// Whether the field may be absent; an explicit `null` is an error unless `nullable`
    /// (pydantic's `X | None`), as the seed's framework validates.
    private mutating func present(_ field: String, required: Bool, nullable: Bool, expected: String, type: String) -> JSONValue? {
        guard let value = values[field] else {
            if required { problem(field, "Field required", type: "missing") }
            return nil
        }
        if value == .null {
            if !nullable { problem(field, expected, type: type) }
            return nil
        }
        return value
    }

    mutating func string(_ field: String, required: Bool = true, nullable: Bool = false, max: Int? = nil, min: Int? = nil, pattern: Pattern? = nil) -> String? {
        guard let value = present(field, required: required, nullable: nullable, expected: "Input should be a valid string", type: "string_type") else {
            return nil
        }
        guard case .string(let text) = value else {
            problem(field, "Input should be a valid string", type: "string_type")
            return nil
        }
        if text.contains("\0") {
            problem(field, "String should not contain NUL characters", type: "string_pattern_mismatch")
            return nil
        }
        if let min, text.codePoints < min {
            problem(field, "String should have at least \(min) character\(min == 1 ? "" : "s")", type: "string_too_short")
            return nil
        }
        if let max, text.codePoints > max {
            problem(field, "String should have at most \(max) characters", type: "string_too_long")
            return nil
        }
        if let pattern, !pattern.matches(text) {
            problem(field, "String should match pattern '\(pattern.description)'", type: "string_pattern_mismatch")
            return nil
        }
        return text
    }

    /// An RFC 3339 date-time (a zone is optional, as pydantic reads it).
    mutating func dateTime(_ field: String, nullable: Bool = false) -> String? {
        guard let text = string(field, required: false, nullable: nullable, max: 64) else { return nil }
        guard Self.isDateTime(text) else {
            problem(field, "Input should be a valid datetime", type: "datetime_parsing")
            return nil
        }
        return text
    }

    static func isDateTime(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count, range.allSatisfy({ (0x30...0x39).contains(bytes[$0]) }) else { return nil }
            return range.reduce(0) { $0 * 10 + Int(bytes[$1] - 0x30) }
        }
        guard bytes.count >= 19, let _ = number(0..<4), bytes[4] == 0x2D, let month = number(5..<7), bytes[7] == 0x2D,
            let day = number(8..<10), [0x54, 0x74, 0x20].contains(bytes[10]), let hour = number(11..<13), bytes[13] == 0x3A,
            let minute = number(14..<16), bytes[16] == 0x3A, let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return false }
        var index = 19
        if index < bytes.count, bytes[index] == 0x2E {
            index += 1
            let start = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            guard index > start else { return false }
        }
        if index == bytes.count { return true }
        if bytes[index] == 0x5A || bytes[index] == 0x7A { return index + 1 == bytes.count }
        guard bytes[index] == 0x2B || bytes[index] == 0x2D, bytes.count == index + 6, let zoneHour = number((index + 1)..<(index + 3)),
            bytes[index + 3] == 0x3A, let zoneMinute = number((index + 4)..<(index + 6))
        else { return false }
        return zoneHour < 24 && zoneMinute < 60
    }

    mutating func email(_ field: String, required: Bool = true) -> String? {
        guard let text = string(field, required: required, max: 254) else { return nil }
        guard Validate.isEmail(text) else {
            problem(field, "value is not a valid email address: The email address is not valid.", type: "value_error")
            return nil
        }
        return Validate.normalizedEmail(text)
    }

    mutating func bool(_ field: String, nullable: Bool = false) -> Bool? {
        guard let value = present(field, required: false, nullable: nullable, expected: "Input should be a valid boolean", type: "bool_type") else {
            return nil
        }
        switch value {
        case .bool(let flag): return flag
        case .string(let text) where location == "query":
            if ["true", "1", "yes", "on"].contains(text.lowercased()) { return true }
            if ["false", "0", "no", "off"].contains(text.lowercased()) { return false }
        default: break
        }
        problem(field, "Input should be a valid boolean", type: "bool_type")
        return nil
    }

    mutating func int(_ field: String, range: ClosedRange<Int>? = nil, nullable: Bool = false) -> Int? {
        guard let value = present(field, required: false, nullable: nullable, expected: "Input should be a valid integer", type: "int_type") else {
            return nil
        }
        var number: Int?
        switch value {
        case .number(let double): number = Int(exactly: double)
        case .string(let text) where location == "query": number = Int(text)
        default: break
        }
        guard let number else {
            problem(field, "Input should be a valid integer", type: "int_type")
            return nil
        }
        if let range, !range.contains(number) {
            if number < range.lowerBound {
                problem(field, "Input should be greater than or equal to \(range.lowerBound)", type: "greater_than_equal")
            } else {
                problem(field, "Input should be less than or equal to \(range.upperBound)", type: "less_than_equal")
            }
            return nil
        }
        return number
    }

    mutating func strings(_ field: String, maxCount: Int = 100, maxLength: Int = 2048, nullable: Bool = false) -> [String]? {
        guard let value = present(field, required: false, nullable: nullable, expected: "Input should be a valid list", type: "list_type") else {
            return nil
        }
        guard case .array(let items) = value, items.count <= maxCount else {
            problem(field, "Input should be a valid list of at most \(maxCount) items", type: "list_type")
            return nil
        }
        var out: [String] = []
        for item in items {
            guard case .string(let text) = item, text.codePoints <= maxLength, !text.contains("\0") else {
                problem(field, "Input should be a valid string of at most \(maxLength) characters", type: "string_type")
                return nil
            }
            out.append(text)
        }
        return out
    }

    mutating func choice<T: RawRepresentable<String> & CaseIterable>(_ field: String, _ type: T.Type) -> T? {
        guard let text = string(field, required: false) else { return nil }
        guard let value = T(rawValue: text) else {
            let names = T.allCases.map { "'\($0.rawValue)'" }
            let list = names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined()
            problem(field, "Input should be \(list)", type: "enum")
            return nil
        }
        return value
    }

    mutating func object(_ field: String, nullable: Bool = false) -> [String: JSONValue]? {
        guard let value = present(field, required: false, nullable: nullable, expected: "Input should be a valid dictionary", type: "dict_type") else {
            return nil
        }
        guard case .object(let members) = value else {
            problem(field, "Input should be a valid dictionary", type: "dict_type")
            return nil
        }
        return members
    }
}

/// The few patterns the seed names, checked byte by byte.
enum Pattern: CustomStringConvertible {
    /// `^[a-zA-Z0-9_.@-]+$`: usernames.
    case username
    /// Tenant and client ids: letters, digits, `-`, `_`, `.`.
    case identifier

    var description: String {
        switch self {
        case .username: "^[a-zA-Z0-9_.@-]+$"
        case .identifier: "^[a-zA-Z0-9_.-]+$"
        }
    }

    func matches(_ text: String) -> Bool {
        guard !text.isEmpty else { return false }
        let extra: Set<UInt8> = self == .username ? [0x5F, 0x2E, 0x40, 0x2D] : [0x5F, 0x2E, 0x2D]
        return text.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || extra.contains(byte)
        }
    }
}

extension Fields {
    /// The problems of a nested object (`block_config`, `flow`, …), reported under `field`.
    mutating func absorb(_ nested: Fields, under field: String) {
        for problem in nested.problems {
            self.problem(field, problem["msg"]?.stringValue ?? "invalid", type: problem["type"]?.stringValue ?? "value_error")
        }
    }

    /// `proto_version`: required, and "1", the only version this server speaks.
    mutating func protoVersion() {
        if let proto = string("proto_version", max: 8), proto != ZKP.protoVersion {
            problem("proto_version", "Unsupported proto_version; this server speaks \"1\"", type: "value_error")
        }
    }
}

extension Response {
    /// The seed's `null` body, for operations that answer nothing.
    static func null(status: HTTPResponse.Status = .ok) -> Response {
        .json(bytes: Array("null".utf8), status: status)
    }
}

extension AppError {
    /// FastAPI's 422: `detail` is the list of problems.
    static func validation(_ problems: [JSONValue]) -> AppError {
        AppError(status: .unprocessableContent, code: "validation_error", detail: "Validation failed.", members: ["detail": .array(problems)])
    }

    static func validation(_ field: String, _ message: String, type: String = "value_error", location: String = "body") -> AppError {
        validation([["loc": [.string(location), .string(field)], "msg": .string(message), "type": .string(type)]])
    }
}

extension Request {
    /// The query string with form rules (`+` is a space, as browsers and OAuth clients
    /// write it); a name given twice keeps its first value.
    func queryForm() throws(AppError) -> [String: String] {
        try Request.parseForm(uri.query ?? "")
    }

    /// The body as a JSON object. Another media type is a 415; a body that is not a JSON
    /// object is FastAPI's 422 `json_invalid`.
    func jsonObject(context: some SuiteRequestContext) async throws -> [String: JSONValue] {
        if let contentType = headers[.contentType], !Request.isJSON(contentType) {
            throw AppError.unsupportedMediaType("The body must be application/json (got \(contentType)).")
        }
        var request = self
        let buffer = try await request.collectBody(upTo: context.bodyLimit)
        guard buffer.readableBytes > 0 else {
            throw AppError.validation([["loc": ["body"], "msg": "Field required", "type": "missing"]])
        }
        guard case .object(let members) = try? JSONParser.parse(buffer.readableBytesView) else {
            throw AppError.validation([["loc": ["body"], "msg": "Input should be a valid JSON object", "type": "json_invalid"]])
        }
        return members
    }
}
