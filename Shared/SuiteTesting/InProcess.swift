import Foundation
public import HTTPTypes
import HummingbirdTesting
import NIOCore
public import PostgresNIO
public import SuiteCore
public import SuiteHTTP

/// A client of a service running in process (HummingbirdTesting's `.router`: no socket),
/// for tests of handler logic: validation, authorization, what a body says.
public struct InProcessClient: Sendable {
    let client: any TestClientProtocol

    /// A request as a client sends it: `json` as the body, `token` as `Authorization: Bearer`.
    @discardableResult
    public func call(
        _ method: HTTPRequest.Method, _ path: String, json: JSONValue? = nil, token: String? = nil, headers: [(String, String)] = []
    ) async throws -> TestResponse {
        var fields = HTTPFields()
        for (name, value) in headers { if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) } }
        if let token { fields[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let json {
            fields[.contentType] = "application/json"
            body = ByteBuffer(bytes: CanonicalJSON.bytes(json))
        }
        let response = try await client.executeRequest(uri: path, method: method, headers: fields, body: body)
        return TestResponse(
            status: Int(response.status.code), headers: response.headers.map { ($0.name.rawName, $0.value) },
            body: Array(buffer: response.body))
    }
}

extension ServiceFixture {
    /// Runs the service in process: its migrations and background services run as in
    /// production, requests go straight to its router. Settings as in `run`.
    public static func inProcess(
        _ service: S.Type,
        options: Options = Options(),
        settings makeSettings: (_ port: Int, _ sink: SMTPSink) throws -> S.Settings,
        _ body: @escaping @Sendable (InProcessClient, _ database: PostgresClient) async throws -> Void
    ) async throws {
        try await withSink { sink in
            let configuration = try await configuration(options)(0)
            let built = try await SuiteApplication.build(S.self, configuration: configuration, settings: try makeSettings(0, sink))
            let database = built.dependencies.database
            try await built.application.test(.router) { client in
                try await body(InProcessClient(client: client), database)
            }
        }
    }
}
