import Foundation
import Testing

@testable import SuiteCore

@Suite struct ErrorDialectTests {
    func decode(_ rendered: ErrorDialect.Rendered) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(rendered.body))
    }

    @Test func problemDetailsCarryTheStandardMembersAndValidationMessages() throws {
        var messages = ValidationMessages()
        messages.add("email", "emailAlreadyInUse", "Email already in use")
        let error = messages.error(status: .conflict, detail: "The request could not be completed due to a conflict with the current state of the resource")
        let rendered = ErrorDialect.problem(type: "http://www.w3.org/Protocols/rfc2616/rfc2616").render(error)

        #expect(rendered.contentType == "application/problem+json")
        let body = try decode(rendered)
        #expect(body["type"] == "http://www.w3.org/Protocols/rfc2616/rfc2616")
        #expect(body["title"] == "Conflict")
        #expect(body["status"] == 409)
        #expect(body["detail"] == "The request could not be completed due to a conflict with the current state of the resource")
        #expect(body["validationMessages"]?["email"]?["emailAlreadyInUse"] == "Email already in use")
        // Standard members come first, as people read them.
        #expect(String(decoding: rendered.body, as: UTF8.self).hasPrefix(#"{"type":"#))
    }

    @Test func problemWithoutDetailOmitsIt() throws {
        let body = try decode(ErrorDialect.problem().render(AppError(status: .notFound, code: "not_found")))
        #expect(body["detail"] == nil)
        #expect(body["type"] == "about:blank")
        #expect(body["title"] == "Not Found")
    }

    @Test func meetSeedShapesLiveInsideProblemJSON() throws {
        let error = AppError(status: .unauthorized, code: "invalid_credentials", detail: "Invalid credentials")
            .with("error", "Invalid credentials")
        let body = try decode(ErrorDialect.problem().render(error))
        #expect(body["error"] == "Invalid credentials")
        #expect(body["status"] == 401)
    }

    @Test func matrixErrorsUseTheirErrcodeAndKeepExtras() throws {
        let error = AppError(status: .badRequest, code: "M_THREEPID_IN_USE", detail: "Already bound")
            .with("mxid", "@alice:example.org")
        let rendered = ErrorDialect.matrix.render(error)
        #expect(rendered.contentType == "application/json")
        let body = try decode(rendered)
        #expect(body == ["errcode": "M_THREEPID_IN_USE", "error": "Already bound", "mxid": "@alice:example.org"])
    }

    @Test(arguments: [
        (404, "M_UNRECOGNIZED"), (405, "M_UNRECOGNIZED"), (401, "M_UNAUTHORIZED"), (403, "M_FORBIDDEN"),
        (429, "M_LIMIT_EXCEEDED"), (413, "M_TOO_LARGE"), (400, "M_INVALID_PARAM"), (500, "M_UNKNOWN"), (503, "M_UNKNOWN"),
    ])
    func matrixFallsBackToTheNearestErrcode(status: Int, errcode: String) throws {
        let error = AppError(status: .init(code: status), code: "generic", detail: "x")
        #expect(try decode(ErrorDialect.matrix.render(error))["errcode"] == .string(errcode))
    }

    @Test func rateLimitsCarryRetryAfterInEveryDialect() throws {
        let error = AppError.tooManyRequests(retryAfterSeconds: 3)
        #expect(error.headers[.retryAfter] == "3")
        #expect(try decode(ErrorDialect.matrix.render(error))["retry_after_ms"] == 3000)
        #expect(try decode(ErrorDialect.matrix.render(error))["errcode"] == "M_LIMIT_EXCEEDED")
    }

    @Test func oauthErrorsKeepTheirCodeOrMapByStatus() throws {
        let grant = AppError(status: .badRequest, code: "invalid_grant", detail: "The code has expired.")
        #expect(try decode(ErrorDialect.oauth.render(grant)) == ["error": "invalid_grant", "error_description": "The code has expired."])
        #expect(try decode(ErrorDialect.oauth.render(.unauthorized("Bad secret")))["error"] == "invalid_client")
        #expect(try decode(ErrorDialect.oauth.render(.internalError))["error"] == "server_error")
        #expect(try decode(ErrorDialect.oauth.render(.unavailable("db")))["error"] == "temporarily_unavailable")
        #expect(try decode(ErrorDialect.oauth.render(.badRequest("x")))["error"] == "invalid_request")
    }

    @Test func fastAPIIsDetailOrTheListOfProblems() throws {
        let plain = ErrorDialect.fastapi.render(.notFound("Tenant not found"))
        #expect(plain.contentType == "application/json")
        #expect(String(decoding: plain.body, as: UTF8.self) == #"{"detail":"Tenant not found"}"#)
        let problems: JSONValue = [["loc": ["body", "username"], "msg": "Field required", "type": "missing"]]
        let validation = AppError(status: .unprocessableContent, code: "validation_error", detail: "x", members: ["detail": problems])
        #expect(String(decoding: ErrorDialect.fastapi.render(validation).body, as: UTF8.self)
            == #"{"detail":[{"loc":["body","username"],"msg":"Field required","type":"missing"}]}"#)
        let limited = ErrorDialect.fastapi.render(.tooManyRequests(retryAfterSeconds: 3))
        #expect(try decode(limited)["retry_after_ms"] == 3000)
    }

    @Test func internalErrorRevealsNothing() throws {
        let body = try decode(ErrorDialect.problem().render(.internalError))
        #expect(body["status"] == 500)
        #expect(body["detail"]?.stringValue?.contains("request id") == true)
    }
}

@Suite struct CanonicalJSONTests {
    @Test func sortsKeysAndWritesNoWhiteSpace() {
        let value: JSONValue = ["b": 1, "a": ["z": true, "y": nil], "c": [1, "two"]]
        #expect(CanonicalJSON.string(value) == #"{"a":{"y":null,"z":true},"b":1,"c":[1,"two"]}"#)
    }

    @Test func escapesOnlyWhatJSONRequiresAndKeepsUnicode() {
        let value: JSONValue = ["text": "quote\" back\\ nl\n tab\t bell\u{07} é 日本"]
        #expect(CanonicalJSON.string(value) == #"{"text":"quote\" back\\ nl\n tab\t bell\u0007 é 日本"}"#)
    }

    @Test func numbersAreWrittenAsIntegersWhenWhole() {
        #expect(CanonicalJSON.string([1, .number(2.5), -3]) == "[1,2.5,-3]")
    }

    @Test func roundTripsThroughFoundation() throws {
        let value: JSONValue = ["list": [1, 2, ["nested": "yes"]], "flag": false, "n": 42]
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(CanonicalJSON.bytes(value)))
        #expect(decoded == value)
    }
}
