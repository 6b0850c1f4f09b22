import Foundation
import HTTPTypes
public import NIOHTTP1
import HummingbirdTesting
import NIOCore
import ServiceLifecycle
public import SuiteCore
import SuiteHTTP

/// A service's router in process (HummingbirdTesting's `.router`: no socket), behind
/// `ServiceClient`.
struct InProcessClient: Sendable {
    let client: any TestClientProtocol

    func execute(_ method: HTTPRequest.Method, _ path: String, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        let response = try await client.executeRequest(uri: path, method: method, headers: headers, body: body)
        return TestResponse(
            status: Int(response.status.code), headers: response.headers.map { ($0.name.rawName, $0.value) },
            body: Array(buffer: response.body))
    }
}

/// Where a harness's requests go: to a service running on loopback, or (in process)
/// straight to its router. A URL under `base` goes to the service either way; any other
/// URL goes over the network. In process nothing follows a redirect; over the network
/// `send` does (AsyncHTTPClient's default) and `fetchWithoutRedirect` does not.
public struct ServiceClient: Sendable {
    /// `http://127.0.0.1:<port>` (in process, the port the configuration names, unopened).
    public let base: String
    let router: InProcessClient?

    public var isInProcess: Bool { router != nil }

    public func send(_ method: HTTPMethod = .GET, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> TestResponse {
        guard let router, url.hasPrefix(base) else { return try await fetch(method, url, headers: headers, body: body) }
        var fields = HTTPFields()
        for (name, value) in headers { if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) } }
        let path = String(url.dropFirst(base.count))
        return try await router.execute(
            HTTPRequest.Method(rawValue: method.rawValue) ?? .get, path.isEmpty ? "/" : path, headers: fields, body: body.map { ByteBuffer(bytes: $0) })
    }

    /// A GET whose redirect is the answer (a browser's first step, read by a test).
    public func fetchWithoutRedirect(_ url: String) async throws -> TestResponse {
        if router != nil, url.hasPrefix(base) { return try await send(.GET, url) }
        return try await SuiteTesting.fetchWithoutRedirect(url)
    }

    /// `json` as the body, `token` as `Authorization: Bearer`.
    public func send(
        _ method: HTTPMethod, _ url: String, json: JSONValue?, token: String? = nil, headers: [(String, String)] = []
    ) async throws -> TestResponse {
        let (all, body) = jsonRequest(json: json, token: token, headers: headers)
        return try await send(method, url, headers: all, body: body)
    }
}

extension ServiceFixture {
    /// The service in process: its migrations and background services run as in
    /// production, requests go straight to its router (`client`); the port its settings
    /// get is the configured, unopened one.
    static func inProcess(
        _ launch: Launch, settings makeSettings: (_ port: Int, _ sink: SMTPSink) throws -> S.Settings,
        _ body: @Sendable (ServiceFixture<S>) async throws -> Void
    ) async throws {
        let (options, sink) = (launch.options, launch.sink)
        let port = try options.port ?? FreePort.next()
        let configuration = try await configuration(options)(port)
        let settings = try makeSettings(port, sink)
        let built = try await SuiteApplication.build(S.self, configuration: configuration, settings: settings)
        try await withoutActuallyEscaping(body) { body in
            let test: @Sendable () async throws -> Void = {
                try await built.application.test(.router) { client in
                    let base = "http://127.0.0.1:\(port)"
                    try await body(
                        ServiceFixture(
                            base: base, port: port, configuration: configuration, settings: settings,
                            database: built.dependencies.database, sink: sink, routes: built.routes, replicas: [],
                            client: ServiceClient(base: base, router: InProcessClient(client: client))))
                }
            }
            if launch.alongside.isEmpty {
                try await test()
            } else {
                try await LiveServices.run(launch.alongside, readyURLs: launch.readyURLs, test)
            }
        }
    }
}
