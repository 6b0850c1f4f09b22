import Foundation
import SuiteCore
import SuiteHTTP
import SuiteTesting
import Hummingbird
import Logging
import Testing
import _ConnectionPoolModule

@Suite struct ErrorHandlingTests {
    let json = [("Content-Type", "application/json")]

    @Test func aDatabaseThatKeepsRefusingConnectionsIsA503NotA500() {
        // What PostgresClient throws once PostgreSQL has refused connections for a while.
        for error in [ConnectionPoolError.connectionCreationCircuitBreakerTripped, .poolShutdown] {
            let mapped = AppError.from(error, logger: Logger(label: "t"))
            #expect(mapped.status == .serviceUnavailable)
            #expect(mapped.headers[.retryAfter] == "1")
        }
    }

    @Test func unknownPathsAreProblemJSON() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let response = try await send(.GET, echo.url + "/nowhere")
            #expect(response.status == 404)
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(response.json?["status"] == 404)
            #expect(response.json?["title"] == "Not Found")
        }
    }

    @Test func aKnownPathWithAnotherMethodIs405WithAllow() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let wrong = try await send(.DELETE, echo.url + "/health/live")
            #expect(wrong.status == 405)
            #expect(wrong.header("Allow") == "GET, HEAD")
            #expect(wrong.header("Content-Type") == "application/problem+json")
            let parameter = try await send(.PUT, echo.url + "/call/anyone")
            #expect(parameter.status == 405)
            #expect(parameter.header("Allow") == "GET, HEAD")
            let matrix = try await send(.GET, echo.url + "/_matrix/login")
            #expect(matrix.status == 405)
            #expect(matrix.json?["errcode"] == "M_UNRECOGNIZED")
            // A handler's own 404 stays a 404.
            #expect(try await send(.GET, echo.url + "/_matrix/thing").status == 404)
            #expect(try await send(.GET, echo.url + "/call/anyone/extra").status == 404)
        }
    }

    /// The router walks to a static segment before a parameter, so `Allow` names the
    /// methods of the most specific pattern only.
    @Test func allowNamesTheMostSpecificRoute() {
        let router = Router()
        router.put("clients/:id") { _, _ in "" }
        router.get("clients/public") { _, _ in "" }
        router.get("clients/public/tenant") { _, _ in "" }
        router.post("users/:id/:part") { _, _ in "" }
        router.get("users/batch/:part") { _, _ in "" }
        let allowed = AllowedMethods()
        allowed.load(from: router)
        #expect(allowed.methods(for: "/clients/public") == ["GET", "HEAD"])
        #expect(allowed.methods(for: "/clients/abc") == ["PUT"])
        #expect(allowed.methods(for: "/users/batch/x") == ["GET", "HEAD"])
        #expect(allowed.methods(for: "/users/other/x") == ["POST"])
        #expect(allowed.methods(for: "/nothing") == [])
    }

    @Test func matrixPathsSpeakMatrixEvenWhenUnknown() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let thrown = try await send(.GET, echo.url + "/_matrix/thing")
            #expect(thrown.status == 404)
            #expect(thrown.header("Content-Type") == "application/json")
            #expect(thrown.json == ["errcode": "M_UNRECOGNIZED", "error": "No thing here."])
            let unknown = try await send(.POST, echo.url + "/_matrix/identity/api/v1/nothing")
            #expect(unknown.json?["errcode"] == "M_UNRECOGNIZED")
        }
    }

    @Test func tokenEndpointsSpeakOAuth() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let response = try await send(.POST, echo.url + "/token")
            #expect(response.status == 400)
            #expect(response.json == ["error": "invalid_grant", "error_description": "Expired code."])
            #expect(response.header("Cache-Control") == "no-store")
        }
    }

    @Test func unexpectedErrorsAre500sThatRevealNothing() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let response = try await send(.GET, echo.url + "/boom")
            #expect(response.status == 500)
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(!response.text.contains("hunter2"))
            #expect(!response.text.contains("Boom"))
        }
    }

    @Test func malformedJSONIsA400() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let broken = try await send(.POST, echo.url + "/notes", headers: json, body: Array("{not json".utf8))
            #expect(broken.status == 400)
            #expect(broken.json?["detail"] == "The request body is not valid JSON.")
            let missing = try await send(.POST, echo.url + "/notes", headers: json, body: Array("{}".utf8))
            #expect(missing.status == 400)
            #expect(missing.json?["detail"] == "The field 'body' is required.")
            let wrongType = try await send(.POST, echo.url + "/notes", headers: json, body: Array(#"{"body":5}"#.utf8))
            #expect(wrongType.status == 400)
            #expect(wrongType.json?["detail"] == "The value of 'body' has the wrong type.")
            let form = try await send(.POST, echo.url + "/notes", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array("body=x".utf8))
            #expect(form.status == 415)
            let charset = try await send(.POST, echo.url + "/notes", headers: [("Content-Type", "Application/JSON; charset=UTF-8")], body: Array(#"{"body":"cs"}"#.utf8))
            #expect(charset.status == 201)
            let empty = try await send(.POST, echo.url + "/notes", headers: json, body: [])
            #expect(empty.status == 400)
        }
    }

    @Test func aUniqueViolationIsAConflict() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let body = Array(#"{"body":"same"}"#.utf8)
            #expect(try await send(.POST, echo.url + "/notes", headers: json, body: body).status == 201)
            let again = try await send(.POST, echo.url + "/notes", headers: json, body: body)
            #expect(again.status == 409)
            #expect(again.json?["status"] == 409)
        }
    }

    @Test func oversizedBodiesAre413WhetherDeclaredOrStreamed() async throws {
        let echo = try await RunningEcho.make(bodyLimit: 2048)
        try await echo.run {
            let big = Array(("{\"body\":\"" + String(repeating: "x", count: 4096) + "\"}").utf8)
            let declared = try await send(.POST, echo.url + "/notes", headers: json, body: big)
            #expect(declared.status == 413)
            #expect(declared.header("Content-Type") == "application/problem+json")
            let streamed = try await sendStreamed(echo.url + "/notes", body: big)
            #expect(streamed == 413)
            let small = try await send(.POST, echo.url + "/notes", headers: json, body: Array(#"{"body":"ok"}"#.utf8))
            #expect(small.status == 201)
        }
    }
}

@Suite struct InternalRouteTests {
    @Test func pingNeedsAServiceToken() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let none = try await send(.GET, echo.url + "/internal/ping")
            #expect(none.status == 401)
            #expect(none.header("WWW-Authenticate") == "Bearer")
            let garbage = try await send(.GET, echo.url + "/internal/ping", headers: [("Authorization", "Bearer nope")])
            #expect(garbage.status == 401)
            #expect(garbage.header("WWW-Authenticate")?.contains("invalid_token") == true)
            let basic = try await send(.GET, echo.url + "/internal/ping", headers: [("Authorization", "Basic dXNlcjpwYXNz")])
            #expect(basic.status == 401)
            let token = try await echo.token()
            let ok = try await send(.GET, echo.url + "/internal/ping", headers: [("Authorization", "bearer \(token)")])
            #expect(ok.status == 200)
            #expect(ok.json == ["service": "echo", "caller": "echo"])
        }
    }

    @Test func routesWithAScopeRefuseTokensWithoutIt() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let without = try await send(.GET, echo.url + "/internal/scoped", headers: [("Authorization", "Bearer \(try await echo.token(scope: "other"))")])
            #expect(without.status == 403)
            #expect(without.json?["detail"] == "The service token of echo lacks the scope 'notes:read'.")
            let with = try await send(.GET, echo.url + "/internal/scoped", headers: [("Authorization", "Bearer \(try await echo.token(scope: "notes:read other"))")])
            #expect(with.status == 200)
        }
    }

    @Test func aTokenForAnotherServiceIsRefused() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let token = try await echo.token(audience: "someone-else")
            let response = try await send(.GET, echo.url + "/internal/ping", headers: [("Authorization", "Bearer \(token)")])
            #expect(response.status == 401)
        }
    }
}

@Suite struct InternalClientTests {
    @Test func callsCarryTokenRequestIdAndTrace() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let response = try await send(.GET, echo.url + "/call/echo?path=/internal/echo-headers",
                                          headers: [("X-Request-Id", "req-42"), ("traceparent", trace)])
            #expect(response.status == 200)
            let seen = response.json?["body"]?.stringValue ?? ""
            #expect(seen.hasPrefix("req-42 00-4bf92f3577b34da6a3ce929d0e0e4736-"))
            #expect(!seen.contains("00f067aa0ba902b7"), "a new span id, same trace")
        }
    }

    @Test func aPeerThatRefusesConnectionsIsA503AtOnceNotAtTheTimeout() async throws {
        let closed = try FreePort.next()
        // A long timeout: a refused connection must not wait for it (the HTTP client's
        // pool used to retry connecting until the deadline).
        let echo = try await RunningEcho.make(internalTimeout: .seconds(10), extraPeers: ["down": "http://127.0.0.1:\(closed)"])
        try await echo.run {
            _ = try await send(.GET, echo.url + "/health/live")
            let start = ContinuousClock.now
            let response = try await send(.GET, echo.url + "/call/down")
            let elapsed = ContinuousClock.now - start
            #expect(response.status == 503)
            #expect(response.json?["detail"] == "down is unavailable.")
            #expect(response.header("Retry-After") == "1")
            // ~50 ms on an idle machine; the bound is loose for one running every test at
            // once, and far below the timeout the old client waited out.
            #expect(elapsed < .seconds(4), "\(elapsed)")
        }
    }

    @Test func aSlowPeerIsA503WithinTheTimeout() async throws {
        let echo = try await RunningEcho.make(internalTimeout: .milliseconds(300))
        try await echo.run {
            let start = ContinuousClock.now
            let response = try await send(.GET, echo.url + "/call/echo?path=/internal/sleep")
            #expect(response.status == 503)
            #expect(response.json?["detail"] == "echo did not answer within 300 ms.")
            #expect(ContinuousClock.now - start < .seconds(4), "cut off, not waited out (bound loose for a loaded machine)")
        }
    }

    @Test func aFailingPeerIsA502() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let response = try await send(.GET, echo.url + "/call/echo?path=/internal/fail")
            #expect(response.status == 502)
            #expect(response.json?["detail"] == "echo failed to answer (status 500).")
        }
    }

    @Test func aTypedCallDecodesTheAnswerMapsNotFoundToNilAndAnythingElseTo502() async throws {
        let echo = try await RunningEcho.make(posingAs: ["user-identity"])
        try await echo.run {
            func typed(_ id: String) async throws -> TestResponse { try await send(.GET, echo.url + "/typed/" + id) }
            let known = try await typed(EchoService.knownUser)
            #expect(known.status == 200 && known.text == "ann@example.org", "\(known.text)")
            let missing = try await typed("00000000-0000-0000-0000-0000000000ff")
            #expect(missing.status == 200 && missing.text == "none", "\(missing.text)")
            // The peer refused what this service sent: the caller's fault, not the client's.
            let refused = try await typed(EchoService.refusedUser)
            #expect(refused.status == 502)
            #expect(refused.json?["detail"] == "user-identity answered 400.")
            let garbled = try await typed(EchoService.garbledUser)
            #expect(garbled.status == 502)
            #expect(garbled.json?["detail"] == "user-identity answered with a body this service cannot read.")
        }
    }

    @Test func anUnconfiguredPeerIsA503() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let response = try await send(.GET, echo.url + "/call/nobody")
            #expect(response.status == 503)
        }
    }
}

import AsyncHTTPClient
import NIOCore

/// Sends a body in chunks without a Content-Length, so only reading it can find its size.
func sendStreamed(_ url: String, body: [UInt8]) async throws -> Int {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    let chunks = stride(from: 0, to: body.count, by: 512).map { ByteBuffer(bytes: body[$0..<min($0 + 512, body.count)]) }
    request.body = .stream(chunks.async, length: .unknown)
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    _ = try await response.body.collect(upTo: 1 << 20)
    return Int(response.status.code)
}

extension Array where Element: Sendable {
    var async: AsyncStream<Element> {
        AsyncStream { continuation in
            for element in self { continuation.yield(element) }
            continuation.finish()
        }
    }
}

@Suite struct FormDecodingTests {
    @Test func readsFormsAsBrowsersAndOAuthClientsWriteThem() throws {
        let fields = try Request.parseForm("scope=openid+profile&redirect_uri=https%3A%2F%2Fx.example%2Fcb%3Fa%3D1&empty=&bare&dup=1&dup=2&name=%C3%A9t%C3%A9")
        #expect(fields["scope"] == "openid profile")
        #expect(fields["redirect_uri"] == "https://x.example/cb?a=1")
        #expect(fields["empty"] == "")
        #expect(fields["bare"] == "")
        #expect(fields["dup"] == "1")
        #expect(fields["name"] == "été")
        #expect(throws: AppError.self) { try Request.parseForm("a=%zz") }
        #expect(throws: AppError.self) { try Request.parseForm("a=%4") }
        #expect(throws: AppError.self) { try Request.parseForm("a=%ff%fe") }
    }
}
