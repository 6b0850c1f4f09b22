import Foundation
import SuiteCore

/// A user's profile, as the seed shows it: contact details, occupation, solvency,
/// salary, contacts and an address. Read and checked field by field into a document
/// that holds only known, valid fields.
enum Profile {
    /// Every field a profile shows, in the seed's order; an unset one shows as null.
    static let fields = [
        "phone", "birthday", "gender", "occupationType", "occupationOrganization", "occupationDescription", "country", "isCouple",
        "aboutMe", "solvency", "salaryFrom", "salaryTo", "salaryCurrency", "salaryType", "contacts", "address",
    ]

    /// What a PUT without them (or with null) leaves as it was, as the seed says.
    static let keptWhenAbsent: Set<String> = [
        "occupationDescription", "solvency", "salaryFrom", "salaryTo", "salaryCurrency", "salaryType",
    ]

    static let addressFields = ["fullAddress", "streetName", "streetNumber", "addressDetails", "postalCode", "cityId", "countryCode"]

    static let stringLimits: [String: Int] = [
        "phone": 32, "gender": 32, "occupationType": 64, "occupationOrganization": 255, "occupationDescription": 2000, "country": 64,
        "aboutMe": 5000, "solvency": 64, "salaryType": 32,
    ]

    /// The profile as GET shows it.
    static func json(_ document: [String: JSONValue]) -> JSONValue {
        var shown: [String: JSONValue] = [:]
        for field in fields { shown[field] = document[field] ?? (field == "contacts" ? .array([]) : .null) }
        return .object(shown)
    }

    /// The document a PUT of `input` makes from `current` (nil: none yet); a 422 with the
    /// validation messages of whatever is wrong.
    static func merged(_ input: [String: JSONValue], into current: [String: JSONValue]?) throws(AppError) -> [String: JSONValue] {
        var validator = Validator()
        var document: [String: JSONValue] = [:]
        for field in fields where field != "address" {
            let value = input[field] ?? .null
            if value == .null {
                if keptWhenAbsent.contains(field), let kept = current?[field] { document[field] = kept }
                continue
            }
            if let checked = check(field, value, &validator) { document[field] = checked }
        }
        if let from = document["salaryFrom"]?.intValue, let to = document["salaryTo"]?.intValue, from > to {
            validator.messages.add("salaryTo", "notGreaterThan", "The input is not greater than or equal to '\(from)'")
        }
        // The address, field by field: an absent or null one keeps its value.
        var address = current?["address"]?.objectValue ?? [:]
        switch input["address"] ?? .null {
        case .null: break
        case .object(let given):
            for field in addressFields {
                guard let value = given[field], value != .null else { continue }
                let limit = field == "countryCode" ? 2 : (field == "fullAddress" ? 500 : 255)
                if let text = string(value, field: "address.\(field)", max: limit, &validator) { address[field] = .string(text) }
            }
        default: validator.messages.add("address", "invalidType", "The input must be an object")
        }
        if !address.isEmpty { document["address"] = .object(address) }
        guard validator.messages.isEmpty else { throw Problem.unprocessable(validator.messages) }
        return document
    }

    private static func check(_ field: String, _ value: JSONValue, _ validator: inout Validator) -> JSONValue? {
        switch field {
        case "birthday":
            guard let text = string(value, field: field, max: 10, &validator) else { return nil }
            guard Self.isPastDate(text) else {
                validator.messages.add(field, "dateInvalidDate", "The input does not appear to be a valid date (Y-m-d, in the past)")
                return nil
            }
            return .string(text)
        case "isCouple":
            guard case .bool = value else {
                validator.messages.add(field, "notBoolean", "The input must be true or false")
                return nil
            }
            return value
        case "salaryFrom", "salaryTo":
            guard let number = value.intValue, number >= 0, number <= 100_000_000 else {
                validator.messages.add(field, "notDigits", "The input must be a whole number from 0 to 100000000")
                return nil
            }
            return .number(Double(number))
        case "salaryCurrency":
            guard let text = string(value, field: field, max: 3, &validator) else { return nil }
            guard text.count == 3, text.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                validator.messages.add(field, "currencyCode", "The input must be an ISO 4217 code such as EUR")
                return nil
            }
            return .string(text)
        case "contacts":
            guard case .array(let items) = value, items.count <= 20 else {
                validator.messages.add(field, "invalidType", "The input must be a list of at most 20 contacts")
                return nil
            }
            var contacts: [JSONValue] = []
            for (index, item) in items.enumerated() {
                guard case .object(let given) = item else {
                    validator.messages.add("contacts.\(index)", "invalidType", "The input must be an object")
                    continue
                }
                var contact: [String: JSONValue] = [:]
                for (name, limit) in [("firstName", 255), ("lastName", 255), ("email", 254), ("phone", 32), ("types", 64)] {
                    guard let value = given[name], value != .null,
                        let text = string(value, field: "contacts.\(index).\(name)", max: limit, &validator)
                    else { continue }
                    if name == "email", !Validate.isEmail(text) {
                        validator.messages.add("contacts.\(index).email", "emailAddressInvalidFormat", "The input is not a valid email address")
                        continue
                    }
                    contact[name] = .string(text)
                }
                contacts.append(.object(contact))
            }
            return .array(contacts)
        default:
            return string(value, field: field, max: stringLimits[field] ?? 255, &validator).map(JSONValue.string)
        }
    }

    private static func string(_ value: JSONValue, field: String, max: Int, _ validator: inout Validator) -> String? {
        guard case .string(let text) = value, !text.utf8.contains(0) else {
            validator.messages.add(field, "stringLengthInvalid", "Invalid type given. String expected")
            return nil
        }
        validator.length(text, field: field, max: max)
        return text.codePoints <= max ? text : nil
    }

    /// `YYYY-MM-DD`, a real calendar day, before today.
    static func isPastDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.count == 10, parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]) else { return false }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day)),
            calendar.component(.month, from: date) == month, calendar.component(.day, from: date) == day, year >= 1900
        else { return false }
        return date < Date()
    }
}
