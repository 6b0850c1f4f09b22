public import AsyncHTTPClient
public import NIOHTTP1
import Foundation
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
public import SuiteCore
public import SuiteSigning

/// What a peer answered.
public struct InternalResponse: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    public let body: [UInt8]

    public func decode<T: Decodable>(_ type: T.Type, peer: String) throws(AppError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw AppError.badGateway("\(peer) answered with a body this service cannot read.")
        }
    }
}

/// Calls the other services of the suite. Every call carries a service token for the
/// peer (`aud`) and scope, the request id, and a W3C `traceparent`; every call has a
/// deadline. A peer that is down or slow becomes a 503 problem, a peer that fails a
/// 502: the caller answers within the timeout and never hangs. Only idempotent calls
/// are retried, once, and only when the connection could not be made.
public final class InternalClient: Sendable {
    /// When a call made now must end: after `timeout`, or when what is left of the
    /// current request's deadline runs out, whichever comes first. For any outgoing
    /// call a handler makes (peers here, third parties such as an introspection endpoint).
    public static func deadline(_ timeout: Duration) -> NIODeadline {
        var budget = timeout
        if let requestDeadline = RequestDeadline.current { budget = min(budget, max(.zero, requestDeadline - .now)) }
        return NIODeadline.now() + .nanoseconds(Int64(budget.milliseconds * 1_000_000))
    }

    public let http: HTTPClient
    public let signer: ServiceTokenSigner
    public let peers: [String: String]
    public let timeout: Duration
    let maxResponseBytes = 4 << 20

    public init(http: HTTPClient, signer: ServiceTokenSigner, peers: [String: String], timeout: Duration) {
        self.http = http
        self.signer = signer
        self.peers = peers
        self.timeout = timeout
    }

    /// Sends a request to `peer` and returns its answer, whatever the status below 500.
    public func send(
        _ method: HTTPMethod,
        to peer: String,
        path: String,
        scope: String,
        json body: [UInt8]? = nil,
        requestID: String? = nil,
        traceParent: String? = nil,
        logger: Logger? = nil
    ) async throws(AppError) -> InternalResponse {
        guard let base = peers[peer] else {
            throw AppError.unavailable("The peer service \(peer) is not configured here.")
        }
        let token: String
        do {
            token = try await signer.token(audience: peer, scope: scope)
        } catch {
            throw AppError.internalError
        }
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "X-Request-Id", value: requestID ?? SecureRandom.hex(byteCount: 16))
        // Traced, AsyncHTTPClient opens the call's client span and sends its traceparent;
        // otherwise the call continues the caller's trace id by itself.
        if !SuiteTracing.enabled {
            let trace = traceParent.flatMap(TraceParent.init(header:))?.child() ?? .root()
            request.headers.add(name: "traceparent", value: trace.header)
        }
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }

        let idempotent = [.GET, .HEAD, .PUT, .DELETE, .OPTIONS].contains(method)
        let deadline = Self.deadline(timeout)
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await http.execute(request, deadline: deadline, logger: logger)
                let bytes = try await response.body.collect(upTo: maxResponseBytes)
                let status = Int(response.status.code)
                if status >= 500 {
                    logger?.warning("peer failed", metadata: ["peer": "\(peer)", "status": "\(status)"])
                    throw AppError.badGateway("\(peer) failed to answer (status \(status)).")
                }
                return InternalResponse(
                    status: status, headers: response.headers.map { ($0.name, $0.value) },
                    body: Array(buffer: bytes))
            } catch let error as AppError {
                throw error
            } catch {
                let refused = Self.isConnectFailure(error)
                if refused, idempotent, attempt == 1, NIODeadline.now() < deadline { continue }
                logger?.warning("peer unreachable", metadata: ["peer": "\(peer)", "error": "\(String(reflecting: error))"])
                if Self.isTimeout(error) {
                    throw AppError.unavailable("\(peer) did not answer within \(Int(timeout.milliseconds)) ms.", retryAfterSeconds: 1)
                }
                if refused {
                    throw AppError.unavailable("\(peer) is unavailable.", retryAfterSeconds: 1)
                }
                if Task.isCancelled { throw AppError.unavailable("The call to \(peer) was given up.", retryAfterSeconds: 1) }
                throw AppError.badGateway("The call to \(peer) failed.")
            }
        }
    }

    public static func isTimeout(_ error: any Error) -> Bool {
        guard let error = error as? HTTPClientError else { return false }
        return [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(error)
    }

    static func isConnectFailure(_ error: any Error) -> Bool {
        if error is NIOConnectionError { return true }
        if let error = error as? HTTPClientError {
            return [.connectTimeout, .remoteConnectionClosed].contains(error)
        }
        if let error = error as? IOError { return [ECONNREFUSED, ECONNRESET, EHOSTUNREACH].contains(error.errnoCode) }
        let text = String(describing: error)
        return text.contains("connectionRefused") || text.contains("Connection refused")
    }

    /// Fetches a peer's JWK Set without a token (the route is open to peers), for the
    /// service-token verifier.
    public func fetchJWKS(url: String) async throws -> JWKS {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await http.execute(request, timeout: .seconds(5))
        guard response.status == .ok else { throw AppError.badGateway("JWKS at \(url) answered \(response.status.code)") }
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return try JSONDecoder().decode(JWKS.self, from: Data(buffer: bytes))
    }

    /// A client tuned for calls between services: short connect timeout, pooled
    /// keep-alive connections, no redirects (a peer never redirects an internal call).
    public static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(1), read: .seconds(10))
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        // A refused connection fails at once: by default the pool keeps retrying it until
        // the request's deadline, so a peer that is down cost the whole timeout, like one
        // that hangs. `send` retries an idempotent call once itself.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

/// Shuts the HTTP client down when the service stops, after the server has drained.
public struct HTTPClientService: Service {
    let client: HTTPClient

    public init(client: HTTPClient) {
        self.client = client
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

extension InternalClient {
    /// A call to a third party (an identity provider, a text-message or storage service)
    /// within `timeout` and the request's own deadline: its status and body (at most
    /// `limit` bytes) whatever the status. Unreachable or slow is a 503 naming `party`;
    /// the caller decides what each status means.
    public static func thirdParty(
        _ request: HTTPClientRequest, party: String, http: HTTPClient, timeout: Duration = .seconds(5), limit: Int = 256 * 1024,
        logger: Logger? = nil
    ) async throws(AppError) -> (status: UInt, body: ByteBuffer) {
        do {
            let response = try await http.execute(request, deadline: deadline(timeout), logger: logger)
            return (response.status.code, try await response.body.collect(upTo: limit))
        } catch {
            logger?.warning("third party unreachable", metadata: ["party": "\(party)", "error": "\(String(reflecting: error))"])
            if isTimeout(error) { throw AppError.unavailable("\(party) did not answer in time.", retryAfterSeconds: 1) }
            throw AppError.unavailable("\(party) is unavailable.", retryAfterSeconds: 1)
        }
    }
}
