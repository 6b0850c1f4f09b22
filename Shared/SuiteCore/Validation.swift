public import Foundation
public import HTTPTypes

/// Field-level validation messages, as User&Identity's seed shows them:
/// `validationMessages: {"email": {"emailAddressInvalidFormat": "…"}}`.
/// Collect every problem of a request first, then throw once, so the caller fixes all
/// fields in one round trip.
public struct ValidationMessages: Sendable, Equatable {
    public private(set) var fields: [String: [String: String]] = [:]

    public init() {}

    public var isEmpty: Bool { fields.isEmpty }

    public mutating func add(_ field: String, _ rule: String, _ message: String) {
        fields[field, default: [:]][rule] = message
    }

    public var json: JSONValue {
        .object(fields.mapValues { rules in .object(rules.mapValues { .string($0) }) })
    }

    /// The error to throw when there is anything to report (422 unless told otherwise).
    public func error(
        status: AppError.Status = .unprocessableContent,
        detail: String = "The request was well formed but was unable to be followed due to semantic errors"
    ) -> AppError {
        AppError(status: status, code: "validation_failed", detail: detail, members: ["validationMessages": json])
    }

    /// Throws the collected messages, if there are any.
    public func check(status: AppError.Status = .unprocessableContent) throws(AppError) {
        if !isEmpty { throw error(status: status) }
    }
}


/// Checks of single values, with the messages the seed's validators write.
public enum Validate {
    /// A practical email check: one `@`, a local part of at most 64 bytes, a domain of
    /// dot-separated labels of letters, digits and hyphens with a top-level label of two
    /// or more letters, 254 bytes at most. No white space, no quoting, no IP literals.
    public static func isEmail(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count <= 254, let at = bytes.firstIndex(of: UInt8(ascii: "@")),
            at > 0, at <= 64, bytes.lastIndex(of: UInt8(ascii: "@")) == at
        else { return false }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        guard local.allSatisfy({ localPartBytes.contains($0) || $0 >= 0x80 }),
            local.first != UInt8(ascii: "."), local.last != UInt8(ascii: "."),
            !zip(local, local.dropFirst()).contains(where: { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") })
        else { return false }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for label in labels {
            guard (1...63).contains(label.count), label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-"),
                label.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 >= 0x80 })
            else { return false }
        }
        let top = labels.last!
        return top.count >= 2 && top.allSatisfy { isLetter($0) || $0 >= 0x80 }
    }

    /// Built once: `isEmail` runs on every sign-up, login and token request.
    private static let localPartBytes = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~-".utf8)

    /// Trimmed and lowercased: the form in which emails are stored and compared.
    public static func normalizedEmail(_ value: String) -> String {
        value.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    public static func uuid(_ value: String) -> UUID? {
        UUID(uuidString: value)
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isLetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

/// Collects the messages of a request's fields: `validator.email(input.email, field: "email")`.
public struct Validator: Sendable {
    public var messages = ValidationMessages()

    public init() {}

    /// Records `isEmpty` when the value is missing or blank; returns the trimmed value.
    @discardableResult
    public mutating func required(_ value: String?, field: String) -> String? {
        guard let trimmed = value?.trimmingCharacters(in: .whitespacesAndNewlines), !trimmed.isEmpty else {
            messages.add(field, "isEmpty", "Value is required and can't be empty")
            return nil
        }
        return trimmed
    }

    public mutating func length(_ value: String?, field: String, min: Int? = nil, max: Int? = nil) {
        guard let value else { return }
        let count = value.codePoints
        if let min, count < min {
            messages.add(field, "stringLengthTooShort", "The input is less than \(min) characters long")
        }
        if let max, count > max {
            messages.add(field, "stringLengthTooLong", "The input is more than \(max) characters long")
        }
    }

    /// Checks the email's form; returns it normalised when it is valid.
    @discardableResult
    public mutating func email(_ value: String?, field: String = "email") -> String? {
        guard let value = required(value, field: field) else { return nil }
        guard Validate.isEmail(value) else {
            messages.add(
                field, "emailAddressInvalidFormat",
                "The input is not a valid email address. Use the basic format local-part@hostname")
            return nil
        }
        return Validate.normalizedEmail(value)
    }

    @discardableResult
    public mutating func uuid(_ value: String?, field: String) -> UUID? {
        guard let value = required(value, field: field) else { return nil }
        guard let id = Validate.uuid(value) else {
            messages.add(field, "uuidInvalid", "The input is not a valid UUID")
            return nil
        }
        return id
    }

    public func check(status: AppError.Status = .unprocessableContent) throws(AppError) {
        try messages.check(status: status)
    }
}

extension StringProtocol {
    /// The length every anchor and JSON Schema's `maxLength` count: code points (pydantic's
    /// and Django's `len`, PHP's `mb_strlen`), not Swift's grapheme clusters, which count an
    /// accented letter written with combining marks as one.
    public var codePoints: Int { unicodeScalars.count }
}
