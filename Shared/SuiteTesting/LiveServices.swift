import AsyncHTTPClient
public import NIOHTTP1
import Foundation
import Logging
import NIOCore
public import ServiceLifecycle
public import SuiteCore
public import SuiteHTTP
public import SuitePostgres
public import SuiteSigning

extension ServiceConfiguration {
    /// A configuration for a service under test: loopback, the given port and database,
    /// quiet logs (`TEST_LOG_LEVEL` to see more), a new key unless one is given. Calls
    /// to peers get 10 s rather than production's 2 s: the whole suite's tests start
    /// their services at once on two cores, and a peer slowed by that is not what a
    /// test is asking about (a test of the deadline passes its own).
    public static func forTesting(
        service: String,
        port: Int,
        database: DatabaseConfiguration,
        signingKey: Ed25519SigningKey = .generate(),
        trust: ServiceTrust = ServiceTrust(issuers: [:]),
        peers: [String: String] = [:],
        bodyLimit: Int = 1 << 20,
        internalTimeout: Duration = .seconds(10),
        requestTimeout: Duration = .seconds(30),
        rateLimits: RateLimitSettings = RateLimitSettings()
    ) -> ServiceConfiguration {
        let level = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return ServiceConfiguration(
            serviceName: service, host: "127.0.0.1", port: port, publicURL: "http://127.0.0.1:\(port)",
            database: database, logLevel: level, logFormat: .text, signingKey: signingKey, trust: trust, peers: peers,
            bodyLimit: bodyLimit, internalTimeout: internalTimeout, requestTimeout: requestTimeout, rateLimits: rateLimits)
    }
}

/// Runs services for real on loopback while a test talks to them over HTTP.
public enum LiveServices {
    /// Starts `services`, waits until each of `readyURLs` answers, runs `body`, then shuts
    /// everything down gracefully, whether `body` succeeded or threw.
    public static func run<T: Sendable>(
        _ services: [any Service],
        readyURLs: [String],
        _ body: @Sendable () async throws -> T
    ) async throws -> T {
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [],
                logger: Logger(label: "live-services")))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let outcome: Result<T, any Error>
            do {
                for url in readyURLs { try await waitUntilAnswering(url) }
                outcome = .success(try await body())
            } catch {
                outcome = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try outcome.get()
        }
    }

    /// Polls `url` until it answers at all (any status), for up to `seconds`.
    public static func waitUntilAnswering(_ url: String, seconds: Double = 30) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            do {
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2))
                _ = try await response.body.collect(upTo: 1 << 20)
                return
            } catch {
                if Date() > deadline { throw error }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }
}

/// A response as a test reads it.
public struct TestResponse: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    public let body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    public var json: JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(body)) }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Sends one request with AsyncHTTPClient, as an outside client would.
public func send(_ method: HTTPMethod = .GET, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> TestResponse {
    try await fetch(method, url, headers: headers, body: body)
}

func fetch(
    _ method: HTTPMethod = .GET, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil
) async throws -> TestResponse {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let bytes = try await response.body.collect(upTo: 16 << 20)
    return TestResponse(
        status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Array(buffer: bytes))
}


/// A JSON request as a client would send it: `json` as the body (with its Content-Type)
/// and `token` as `Authorization: Bearer …`.
public func send(
    _ method: HTTPMethod, _ url: String, json: JSONValue?, token: String? = nil, headers: [(String, String)] = []
) async throws -> TestResponse {
    let (all, body) = jsonRequest(json: json, token: token, headers: headers)
    return try await send(method, url, headers: all, body: body)
}

/// The headers and body of a JSON request with an optional bearer token.
func jsonRequest(json: JSONValue?, token: String?, headers: [(String, String)]) -> ([(String, String)], [UInt8]?) {
    var all = headers
    if let token { all.append(("Authorization", "Bearer \(token)")) }
    guard let json else { return (all, nil) }
    all.append(("Content-Type", "application/json"))
    return (all, CanonicalJSON.bytes(json))
}

/// A GET that does not follow redirects, to see a 302 and its Location as a browser would.
public func fetchWithoutRedirect(_ url: String) async throws -> TestResponse {
    var configuration = HTTPClient.Configuration()
    configuration.redirectConfiguration = .disallow
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        try await client.shutdown()
        return TestResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Array(buffer: body))
    } catch {
        try? await client.shutdown()
        throw error
    }
}
