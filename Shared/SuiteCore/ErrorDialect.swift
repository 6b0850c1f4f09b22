/// How a route group speaks its errors on the wire. One `AppError`, several dialects:
/// the error middleware picks the dialect of the route and calls `render`.
public enum ErrorDialect: Sendable, Equatable {
    /// RFC 9457 problem details, `application/problem+json`. `type` is the URI written
    /// in the `type` member (User&Identity's seed uses the RFC 2616 URI).
    case problem(type: String = "about:blank")
    /// Matrix: `{"errcode":"M_…","error":"…"}`, `application/json`.
    case matrix
    /// OAuth 2.0 (RFC 6749 §5.2): `{"error":"…","error_description":"…"}`, `application/json`.
    case oauth
    /// Django REST framework, as La Suite Meet answers: `{"detail":"…"}`, or the error's
    /// members alone when it has any (field errors `{"scope":["…"]}`, the token
    /// endpoint's `{"error":"…"}`). `application/json`.
    case drf
    /// FastAPI, as the OIDC vault's seed answers: `{"detail":"…"}`, or, for validation
    /// errors, `{"detail":[{"loc":[…],"msg":"…","type":"…"}]}` (the error's `detail`
    /// member). `application/json`.
    case fastapi
    /// SCIM (RFC 7644 §3.12): `{"schemas":[…Error],"status":"400","scimType":…,"detail":…}`,
    /// `application/scim+json`. `scimType` is the error's member when it has one.
    case scim

    public struct Rendered: Sendable {
        public var contentType: String
        public var body: [UInt8]
    }

    public func render(_ error: AppError) -> Rendered {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        switch self {
        case .problem(let type):
            var leading: [(String, JSONValue)] = [
                ("type", error.members["type"] ?? .string(type)),
                ("title", .string(error.title)),
                ("status", .number(Double(error.status.code))),
            ]
            if let detail = error.detail { leading.append(("detail", .string(detail))) }
            CanonicalJSON.writeObject(leading: leading, rest: error.members, into: &out)
            return Rendered(contentType: "application/problem+json", body: out)
        case .matrix:
            let leading: [(String, JSONValue)] = [
                ("errcode", .string(Self.matrixCode(for: error))),
                ("error", .string(error.detail ?? error.title)),
            ]
            CanonicalJSON.writeObject(leading: leading, rest: error.members, into: &out)
            return Rendered(contentType: "application/json", body: out)
        case .drf:
            // Field errors (code `fields`) and the token endpoint's `{"error": …}` are the
            // members alone; everything else is DRF's `{"detail": …}`.
            if error.code == "fields" || error.members["error"] != nil {
                CanonicalJSON.writeObject(leading: [], rest: error.members, into: &out)
            } else {
                CanonicalJSON.writeObject(leading: [("detail", .string(error.detail ?? error.title))], rest: [:], into: &out)
            }
            return Rendered(contentType: "application/json", body: out)
        case .fastapi:
            if error.members["detail"] != nil {
                CanonicalJSON.writeObject(leading: [], rest: error.members, into: &out)
            } else {
                CanonicalJSON.writeObject(leading: [("detail", .string(error.detail ?? error.title))], rest: error.members, into: &out)
            }
            return Rendered(contentType: "application/json", body: out)
        case .scim:
            var leading: [(String, JSONValue)] = [
                ("schemas", .array([.string("urn:ietf:params:scim:api:messages:2.0:Error")])),
                ("status", .string(String(error.status.code))),
            ]
            if let type = error.members["scimType"] { leading.append(("scimType", type)) }
            leading.append(("detail", .string(error.detail ?? error.title)))
            CanonicalJSON.writeObject(leading: leading, rest: [:], into: &out)
            return Rendered(contentType: "application/scim+json", body: out)
        case .oauth:
            var leading: [(String, JSONValue)] = [("error", .string(Self.oauthCode(for: error)))]
            if let detail = error.detail { leading.append(("error_description", .string(detail))) }
            CanonicalJSON.writeObject(leading: leading, rest: error.members, into: &out)
            return Rendered(contentType: "application/json", body: out)
        }
    }

    /// A Matrix errcode: the error's own when it is one, else the nearest by status.
    static func matrixCode(for error: AppError) -> String {
        if error.code.hasPrefix("M_") { return error.code }
        switch error.status.code {
        case 400: return "M_INVALID_PARAM"
        case 401: return "M_UNAUTHORIZED"
        case 403: return "M_FORBIDDEN"
        case 404, 405: return "M_UNRECOGNIZED"
        case 413: return "M_TOO_LARGE"
        case 415: return "M_NOT_JSON"
        case 429: return "M_LIMIT_EXCEEDED"
        default: return "M_UNKNOWN"
        }
    }

    static let oauthCodes: Set<String> = [
        "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
        "invalid_scope", "access_denied", "server_error", "temporarily_unavailable", "invalid_token",
        "insufficient_scope", "unsupported_token_type", "invalid_target", "login_required", "consent_required",
        "interaction_required", "unsupported_response_type", "invalid_request_uri", "invalid_request_object",
    ]

    /// An OAuth error code: the error's own when it is one, else the nearest by status.
    static func oauthCode(for error: AppError) -> String {
        if oauthCodes.contains(error.code) { return error.code }
        switch error.status.code {
        case 401: return "invalid_client"
        case 403: return "access_denied"
        case 503: return "temporarily_unavailable"
        case 500...: return "server_error"
        default: return "invalid_request"
        }
    }
}
