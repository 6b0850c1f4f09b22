public import HTTPTypes

/// The one error type every handler throws. It carries what the caller should see;
/// the error middleware renders it in the dialect of the route (problem+json, Matrix,
/// OAuth 2.0), so a handler never builds an error body by hand.
public struct AppError: Error, Sendable, Equatable {
    public typealias Status = HTTPResponse.Status

    /// HTTP status of the response.
    public var status: HTTPResponse.Status
    /// Machine-readable code: a Matrix `errcode` (`M_NOT_FOUND`), an OAuth `error`
    /// (`invalid_grant`), or a short slug used in the problem `type` URI.
    public var code: String
    /// Short human summary; for problem+json the `title`.
    public var title: String
    /// Human explanation of this occurrence; for problem+json the `detail`.
    public var detail: String?
    /// Extension members written beside the standard ones (`validationMessages`,
    /// `retry_after_ms`, `mxid`, the Meet seed's `error` member, …).
    public var members: [String: JSONValue]
    /// Headers the response must carry (`Retry-After`, `WWW-Authenticate`, …).
    public var headers: HTTPFields

    public init(
        status: HTTPResponse.Status,
        code: String,
        title: String? = nil,
        detail: String? = nil,
        members: [String: JSONValue] = [:],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.members = members
        self.headers = headers
    }

    /// Returns a copy with another extension member.
    public func with(_ member: String, _ value: JSONValue) -> AppError {
        var copy = self
        copy.members[member] = value
        return copy
    }

    /// Returns a copy with another response header.
    public func with(header name: HTTPField.Name, _ value: String) -> AppError {
        var copy = self
        copy.headers[name] = value
        return copy
    }
}

extension AppError {
    public static func badRequest(_ detail: String, code: String = "bad_request") -> AppError {
        AppError(status: .badRequest, code: code, detail: detail)
    }

    public static func unauthorized(_ detail: String, code: String = "unauthorized") -> AppError {
        AppError(status: .unauthorized, code: code, detail: detail)
    }

    public static func forbidden(_ detail: String, code: String = "forbidden") -> AppError {
        AppError(status: .forbidden, code: code, detail: detail)
    }

    public static func notFound(_ detail: String = "Not found.", code: String = "not_found") -> AppError {
        AppError(status: .notFound, code: code, detail: detail)
    }

    public static func conflict(_ detail: String, code: String = "conflict") -> AppError {
        AppError(status: .conflict, code: code, detail: detail)
    }

    public static func unsupportedMediaType(_ detail: String) -> AppError {
        AppError(status: .unsupportedMediaType, code: "unsupported_media_type", detail: detail)
    }

    public static func contentTooLarge(limit: Int) -> AppError {
        AppError(
            status: .contentTooLarge, code: "content_too_large",
            detail: "The request body is larger than the \(limit) bytes this endpoint accepts.")
    }

    public static func tooManyRequests(retryAfterSeconds: Int, detail: String = "Too many requests.") -> AppError {
        let seconds = max(1, retryAfterSeconds)
        return AppError(
            status: .tooManyRequests, code: "too_many_requests", detail: detail,
            members: ["retry_after_ms": .number(Double(seconds * 1000))],
            headers: [.retryAfter: String(seconds)])
    }

    /// A dependency (database, peer service) cannot serve the request now.
    public static func unavailable(_ detail: String, retryAfterSeconds: Int? = nil) -> AppError {
        var error = AppError(status: .serviceUnavailable, code: "service_unavailable", detail: detail)
        if let retryAfterSeconds { error.headers[.retryAfter] = String(retryAfterSeconds) }
        return error
    }

    /// A peer answered, but not with anything usable.
    public static func badGateway(_ detail: String) -> AppError {
        AppError(status: .badGateway, code: "bad_gateway", detail: detail)
    }

    /// The error shown for anything unexpected: no internals leak to the caller.
    public static let internalError = AppError(
        status: .internalServerError, code: "internal_error",
        detail: "The server met an unexpected condition. The request id identifies it in the logs.")
}
