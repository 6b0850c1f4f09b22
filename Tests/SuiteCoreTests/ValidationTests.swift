import Foundation
import Testing

@testable import SuiteCore

@Suite struct ValidationTests {
    @Test(arguments: [
        "alice@example.org", "a.b+tag@sub.example.co.uk", "x@y.io", "o'brien@example.ie", "Alice@Example.ORG",
    ])
    func acceptsOrdinaryAddresses(_ email: String) {
        #expect(Validate.isEmail(email))
    }

    @Test(arguments: [
        "", "alice", "alice@", "@example.org", "alice@example", "alice@@example.org", "al ice@example.org",
        "alice@exa mple.org", ".alice@example.org", "alice.@example.org", "al..ice@example.org", "alice@-example.org",
        "alice@example.o", "alice@example.123", String(repeating: "a", count: 65) + "@example.org",
        "alice@" + String(repeating: "a", count: 64) + ".org",
    ])
    func refusesMalformedAddresses(_ email: String) {
        #expect(!Validate.isEmail(email))
    }

    @Test func normalisesEmailsForComparison() {
        #expect(Validate.normalizedEmail("  Alice@Example.ORG \n") == "alice@example.org")
    }

    @Test func collectsEveryFieldProblemBeforeThrowing() throws {
        var validator = Validator()
        validator.length("abc", field: "fullname", min: 4)
        validator.email("not-an-email")
        validator.length("12345", field: "password", min: 6)
        validator.uuid("nope", field: "id")
        validator.required("   ", field: "name")

        let error = #expect(throws: AppError.self) { try validator.check() }
        #expect(error?.status == .unprocessableContent)
        let messages = error?.members["validationMessages"]
        #expect(messages?["fullname"]?["stringLengthTooShort"] == "The input is less than 4 characters long")
        #expect(messages?["email"]?["emailAddressInvalidFormat"] != nil)
        #expect(messages?["password"]?["stringLengthTooShort"] == "The input is less than 6 characters long")
        #expect(messages?["id"]?["uuidInvalid"] != nil)
        #expect(messages?["name"]?["isEmpty"] == "Value is required and can't be empty")
    }

    @Test func validInputPassesAndReturnsNormalisedValues() throws {
        var validator = Validator()
        let email = validator.email(" Bob@Example.org ")
        let id = validator.uuid("6F9619FF-8B86-D011-B42D-00CF4FC964FF", field: "id")
        validator.length("Bob Smith", field: "fullname", min: 4, max: 100)
        try validator.check()
        #expect(email == "bob@example.org")
        #expect(id != nil)
    }

    @Test func tooLongValuesAreReported() {
        var validator = Validator()
        validator.length(String(repeating: "x", count: 129), field: "username", max: 128)
        #expect(validator.messages.fields["username"]?["stringLengthTooLong"] == "The input is more than 128 characters long")
    }
}

@Suite struct PaginationTests {
    @Test func defaultsApplyWhenNothingIsGiven() throws {
        let page = try PageRequest.parse(page: nil, size: nil)
        #expect(page == PageRequest(page: 1, size: 20))
        #expect(page.offset == 0)
    }

    @Test func offsetFollowsPageAndSize() throws {
        let page = try PageRequest.parse(page: "3", size: "50")
        #expect(page.offset == 100)
    }

    @Test(arguments: [("0", nil), ("-1", nil), ("abc", nil), (nil, "0"), (nil, "101"), (nil, "x"), ("1.5", nil)] as [(String?, String?)])
    func outOfBoundsIsA400NamingTheParameter(page: String?, size: String?) {
        let error = #expect(throws: AppError.self) { try PageRequest.parse(page: page, size: size) }
        #expect(error?.status == .badRequest)
        #expect(error?.members["parameter"] == .string(page != nil ? "page" : "page_size"))
    }

    @Test func boundsAreInclusive() throws {
        #expect(try PageRequest.parse(page: "1", size: "100").size == 100)
        #expect(try PageRequest.parse(page: "1", size: "1").size == 1)
        #expect(try PageRequest.parse(page: nil, size: "500", sizeParameter: "limit", maxSize: 500).size == 500)
    }
}

@Suite struct ConfigReaderTests {
    @Test func readsValuesAndDefaults() throws {
        let reader = ConfigReader(["PORT": "9000", "FLAG": "yes", "URL": "https://example.org/base/"])
        #expect(try reader.int("PORT", default: 1, range: 1...65535) == 9000)
        #expect(try reader.int("MISSING", default: 7, range: 1...10) == 7)
        #expect(try reader.bool("FLAG", default: false))
        #expect(try reader.url("URL") == "https://example.org/base")
    }

    @Test func badValuesNameTheVariable() {
        let reader = ConfigReader(["PORT": "http", "FLAG": "maybe", "URL": "ftp://x", "LEVEL": "loud"])
        #expect(throws: ConfigurationError.self) { try reader.int("PORT", default: 1, range: 1...65535) }
        let error = #expect(throws: ConfigurationError.self) { try reader.bool("FLAG", default: false) }
        #expect(error?.variable == "FLAG")
        #expect(error?.description.contains("maybe") == true)
        #expect(throws: ConfigurationError.self) { try reader.url("URL") }
        #expect(throws: ConfigurationError.self) { try reader.required("NOPE") }
    }

    @Test func secretsMayComeFromFiles() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID())").path
        try "s3cret\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = ConfigReader(["SMTP_PASSWORD_FILE": path, "OTHER_FILE": "/nonexistent/file"])
        #expect(try reader.string("SMTP_PASSWORD") == "s3cret")
        let error = #expect(throws: ConfigurationError.self) { try reader.string("OTHER") }
        #expect(error?.variable == "OTHER_FILE")
    }

    @Test func blankCountsAsUnset() throws {
        #expect(try ConfigReader(["X": ""]).string("X", default: "d") == "d")
    }
}

@Suite struct TimeoutTests {
    @Test func slowOperationsAreCutOff() async {
        let start = ContinuousClock.now
        await #expect(throws: TimeoutError.self) {
            try await withTimeout(seconds: 0.1) { try await Task.sleep(for: .seconds(10)) }
        }
        #expect(ContinuousClock.now - start < .seconds(4), "cut off, not waited out (bound loose for a loaded machine)")
    }

    @Test func fastOperationsReturnTheirValue() async throws {
        #expect(try await withTimeout(seconds: 1) { 42 } == 42)
    }

    /// Lengths are code points: 100 letters with a combining mark each are 200.
    @Test func lengthsCountCodePointsNotGraphemes() {
        var validator = Validator()
        validator.length(String(repeating: "e\u{0301}", count: 100), field: "fullname", max: 150)
        #expect(validator.messages.fields["fullname"]?["stringLengthTooLong"] != nil)
    }
}
