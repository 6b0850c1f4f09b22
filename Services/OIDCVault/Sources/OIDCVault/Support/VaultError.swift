import SuiteCore

/// The vault's errors, in one place: each renders in the route's dialect (FastAPI's
/// `{"detail": …}`, or OAuth JSON on the token endpoints) with the seed's words.
enum VaultError {
    /// 404: "<What> not found".
    static func notFound(_ what: String) -> AppError {
        AppError(status: .notFound, code: "not_found", detail: "\(what) not found")
    }

    /// 409: "<What> already exists".
    static func exists(_ what: String) -> AppError {
        AppError(status: .conflict, code: "conflict", detail: "\(what) already exists")
    }

    /// 404 for unblocking a subject no block holds.
    static let notBlocked = AppError(status: .notFound, code: "not_found", detail: "Not blocked")

    static func forbidden(_ detail: String) -> AppError {
        AppError(status: .forbidden, code: "forbidden", detail: detail)
    }

    static func badRequest(_ detail: String) -> AppError {
        AppError(status: .badRequest, code: "bad_request", detail: detail)
    }

    static func unauthorized(_ detail: String) -> AppError {
        AppError(status: .unauthorized, code: "unauthorized", detail: detail)
    }

    /// The OAuth `invalid_request` of the authorization endpoint, before any redirect.
    static func invalidRequest(_ detail: String) -> AppError {
        AppError(status: .badRequest, code: "invalid_request", detail: detail)
    }
}
