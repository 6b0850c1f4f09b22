import Foundation
public import Hummingbird
public import HTTPTypes
public import Logging
import NIOCore
public import SuiteCore

/// The outermost middleware of every service, in one pass:
/// - gives the request its id (the caller's `X-Request-Id` when it is sane, else a new
///   one), echoed on the response and put on every log line of the request;
/// - keeps the caller's `traceparent` for internal calls;
/// - refuses a body larger than the limit from its `Content-Length` (413) before reading it;
/// - turns any error into a response in the route's dialect (nothing escapes as a bare 500);
/// - says `Connection: close` on the response when the request asked for it, because
///   Hummingbird then closes the connection without saying so, and a proxy that keeps
///   the connection (nginx with upstream keepalive) could send the next request into it;
/// - answers 503 with `Retry-After`, in the route's dialect, for a request whose deadline
///   (`DeadlineResponder`) passed while it waited and that failed for it; a handler that
///   finished anyway (its statement had reached PostgreSQL) answers what happened, so a
///   client is never told "failed" about a write that commits;
/// - writes one access-log line and records the request count and latency.
public struct RequestMiddleware<Context: SuiteRequestContext>: RouterMiddleware {
    let metrics: HTTPMetrics
    let bodyLimit: Int
    let dialect: @Sendable (String) -> ErrorDialect
    let allowedMethods: AllowedMethods

    public init(
        metrics: HTTPMetrics, bodyLimit: Int, allowedMethods: AllowedMethods = AllowedMethods(),
        dialect: @escaping @Sendable (String) -> ErrorDialect
    ) {
        self.metrics = metrics
        self.bodyLimit = bodyLimit
        self.allowedMethods = allowedMethods
        self.dialect = dialect
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        var context = context
        let requestID = Self.acceptableRequestID(request.headers[.xRequestID]) ?? SecureRandom.hex(byteCount: 16)
        context.requestID = requestID
        context.traceParent = request.headers[.traceparent].flatMap(TraceParent.init(header:)).map(\.header)
        context.bodyLimit = bodyLimit
        context.logger[metadataKey: "request_id"] = .string(requestID)
        context.logger[metadataKey: "hb.request.id"] = nil

        var response: Response
        do {
            if let length = request.headers[.contentLength].flatMap(Int.init), length > bodyLimit {
                throw AppError.contentTooLarge(limit: bodyLimit)
            }
            response = try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && !Self.isRoute(context.endpointPath) {
            // No route took the request: a path that exists with other methods is a 405.
            let allowed = allowedMethods.methods(for: request.uri.path)
            let appError = allowed.isEmpty
                ? AppError.from(error, logger: context.logger)
                : AppError(
                    status: .methodNotAllowed, code: "method_not_allowed",
                    detail: "This resource does not accept \(request.method.rawValue).",
                    headers: [.allow: allowed.sorted().joined(separator: ", ")])
            response = Self.response(for: appError, dialect: dialect(request.uri.path))
        } catch {
            response = Self.response(for: Self.appError(for: error, logger: context.logger), dialect: dialect(request.uri.path))
        }
        response.headers[.xRequestID] = requestID
        if request.headers[.connection] == "close" {
            // The very test Hummingbird's connection loop makes before it stops reading.
            response.headers[.connection] = "close"
        }

        let elapsed = ContinuousClock.now - start
        let route = Self.isRoute(context.endpointPath) ? context.endpointPath! : "unmatched"
        metrics.record(method: request.method.rawValue, route: route, status: response.status.code, duration: elapsed)
        if context.logger.logLevel <= .info {
            // The path only: a query string may carry a token or an email.
            context.logger.info(
                "request",
                metadata: [
                    "method": .string(request.method.rawValue), "path": .string(request.uri.path),
                    "route": .string(route), "status": .stringConvertible(response.status.code),
                    "duration_ms": .stringConvertible(elapsed.milliseconds),
                ])
        }
        return response
    }

    /// Hummingbird names the not-found responder's path "NotFound"; a route always starts with "/".
    static func isRoute(_ endpointPath: String?) -> Bool {
        endpointPath?.hasPrefix("/") == true
    }

    /// What a handler's error tells the caller: a failure after the request's deadline
    /// passed is the deadline's 503 (its wait was given up), anything else as it maps.
    public static func appError(for error: any Error, logger: Logger) -> AppError {
        if let deadline = RequestDeadline.current, ContinuousClock.now >= deadline, !((error as? AppError).map { $0.status.code < 500 } ?? false) {
            logger.warning("request deadline passed", metadata: ["error": "\(String(reflecting: error))"])
            return .unavailable("The service could not answer in time. Try again shortly.", retryAfterSeconds: 1)
        }
        return AppError.from(error, logger: logger)
    }

    /// The response for an error, in the given dialect.
    public static func response(for error: AppError, dialect: ErrorDialect) -> Response {
        let rendered = dialect.render(error)
        var headers = error.headers
        headers[.contentType] = rendered.contentType
        headers[.cacheControl] = "no-store"
        return Response(status: error.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: rendered.body)))
    }

    /// A caller's request id is kept when it is 1–128 characters of `[A-Za-z0-9._:-]`,
    /// so it can go in logs and headers as it is.
    static func acceptableRequestID(_ value: String?) -> String? {
        guard let value, (1...128).contains(value.utf8.count) else { return nil }
        let allowed = value.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
        }
        return allowed ? value : nil
    }
}

extension HTTPField.Name {
    public static let xRequestID = HTTPField.Name("X-Request-Id")!
    public static let traceparent = HTTPField.Name("traceparent")!
}

/// A W3C trace context `traceparent` header: `00-<trace id>-<parent id>-<flags>`.
public struct TraceParent: Sendable, Equatable {
    public let traceID: String
    public let parentID: String
    public let flags: String

    public init?(header: String) {
        let parts = header.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16,
            parts[3].count == 2, parts.allSatisfy({ $0.allSatisfy(\.isHexDigit) }),
            parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16)
        else { return nil }
        self.traceID = parts[1].lowercased()
        self.parentID = parts[2].lowercased()
        self.flags = parts[3].lowercased()
    }

    public init(traceID: String, parentID: String, flags: String = "01") {
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    public var header: String { "00-\(traceID)-\(parentID)-\(flags)" }

    /// The header for a call made while serving this trace: same trace, new span.
    public func child() -> TraceParent {
        TraceParent(traceID: traceID, parentID: SecureRandom.hex(byteCount: 8), flags: flags)
    }

    /// A new trace, for a call that does not continue one.
    public static func root() -> TraceParent {
        TraceParent(traceID: SecureRandom.hex(byteCount: 16), parentID: SecureRandom.hex(byteCount: 8))
    }
}

extension Duration {
    /// The duration in milliseconds, with fractions, for logs.
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}

