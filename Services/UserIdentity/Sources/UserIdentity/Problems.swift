import HTTPTypes
import SuiteCore

/// The errors of User&Identity with the titles and details its seed writes
/// (Laminas API Tools' wording), so clients written against the original see the same
/// bodies.
enum Problem {
    static func unprocessable(_ messages: ValidationMessages) -> AppError {
        var error = messages.error()
        error.title = "Unprocessable Entity"
        return error
    }

    /// One field, one rule: `invalid("email", "userNotExists", "This user does not exist")`.
    static func invalid(_ field: String, _ rule: String, _ message: String) -> AppError {
        var messages = ValidationMessages()
        messages.add(field, rule, message)
        return unprocessable(messages)
    }

    static func conflict(_ field: String? = nil, _ rule: String? = nil, _ message: String? = nil) -> AppError {
        var error = AppError(
            status: .conflict, code: "conflict", title: "Conflict",
            detail: "The request could not be completed due to a conflict with the current state of the resource")
        if let field, let rule, let message {
            var messages = ValidationMessages()
            messages.add(field, rule, message)
            error.members["validationMessages"] = messages.json
        }
        return error
    }

    static let emailInUse = conflict("email", "emailAlreadyInUse", "Email already in use")

    static func notFound(_ detail: String = "Resource not found") -> AppError {
        AppError(status: .notFound, code: "not_found", title: "Not Found", detail: detail)
    }

    /// 401 with the seed's detail; `reason` goes to `WWW-Authenticate` (RFC 6750) so a
    /// client can tell an expired token from a bad one without parsing prose.
    static func unauthenticated(_ reason: String) -> AppError {
        AppError(
            status: .unauthorized, code: "unauthorized", title: "Unauthorized",
            detail: "The request requires user authentication",
            headers: [.wwwAuthenticate: "Bearer error=\"invalid_token\", error_description=\"\(reason)\""])
    }

    static let missingToken = AppError(
        status: .unauthorized, code: "unauthorized", title: "Unauthorized",
        detail: "The request requires user authentication", headers: [.wwwAuthenticate: "Bearer"])

    static func forbidden(_ detail: String = "You do not have the role this operation needs") -> AppError {
        AppError(status: .forbidden, code: "forbidden", title: "Forbidden", detail: detail)
    }
}
