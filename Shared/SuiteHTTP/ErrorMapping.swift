import Foundation
import Hummingbird
public import Logging
import PostgresNIO
public import SuiteCore

extension AppError {
    /// What the caller sees for any error a handler lets escape. Known kinds become the
    /// 4xx or 503 they stand for; anything else is a 500 that reveals nothing and is
    /// logged in full with the request id.
    public static func from(_ error: any Error, logger: Logger) -> AppError {
        switch error {
        case let error as AppError:
            return error
        case let error as PostgresTransactionError:
            if let inner = error.closureError { return from(inner, logger: logger) }
            if let commit = error.commitError, error.beginError == nil {
                // The COMMIT was sent and its answer lost (the connection died): PostgreSQL
                // may well have saved the change. Saying "unavailable, try again" would
                // invite a duplicate; say what is known.
                logger.error("commit outcome unknown", metadata: ["error": "\(String(reflecting: commit))"])
                return .unavailable(
                    "The database went away while this change was being committed: it may have been saved. Check before trying again.")
            }
            return from(error.beginError ?? error.commitError ?? error.rollbackError ?? AppError.internalError, logger: logger)
        case let error as PSQLError:
            return fromDatabase(error, logger: logger)
        case _ where isConnectionPoolError(error):
            // PostgresClient's pool gave up on a request: PostgreSQL has refused
            // connections for a while (its circuit breaker), or the pool is closing.
            logger.warning("database unavailable", metadata: ["error": "\(String(reflecting: error))"])
            return .unavailable("The database is unavailable. Try again shortly.", retryAfterSeconds: 1)
        case let error as DecodingError:
            return AppError(status: .badRequest, code: "invalid_body", detail: describe(error))
        case is CancellationError, is DeadlineExceeded:
            // A wait given up: the request's deadline, or that of a batch it shared.
            return .unavailable("The service could not answer in time. Try again shortly.", retryAfterSeconds: 1)
        case is TimeoutError:
            return .unavailable("A dependency did not answer in time. Try again shortly.", retryAfterSeconds: 1)
        case let error as any HTTPResponseError:
            // Hummingbird's own errors (unknown route, wrong method, body too large, …):
            // keep their status, speak our dialect.
            let detail: String
            switch error.status {
            case .notFound: detail = "No resource lives at this path."
            case .methodNotAllowed: detail = "This resource does not accept that method."
            case .contentTooLarge: detail = "The request body is larger than this service accepts."
            default:
                detail = (error as? HTTPError)?.body ?? error.status.reasonPhrase
            }
            var mapped = AppError(status: error.status, code: slug(for: error.status), detail: detail)
            for field in (error as? HTTPError)?.headers ?? [:] { mapped.headers.append(field) }
            mapped.headers[.contentType] = nil
            mapped.headers[.contentLength] = nil
            return mapped
        default:
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return .internalError
        }
    }

    /// Whether `error` is the pool's own (`ConnectionPoolError`). PostgresClient turns its
    /// shutdown and cancellation into `PSQLError`s but lets the circuit breaker's error
    /// (PostgreSQL refusing connections for a while) through as the pool's type, which
    /// lives in postgres-nio's underscored `_ConnectionPoolModule`. Its name is read
    /// instead of importing that module, whose API carries no stability promise; the
    /// outage tests (a stopped PostgreSQL answers 503 in each dialect) fail if it changes.
    static func isConnectionPoolError(_ error: any Error) -> Bool {
        String(reflecting: type(of: error)).hasSuffix(".ConnectionPoolError")
    }

    static func fromDatabase(_ error: PSQLError, logger: Logger) -> AppError {
        switch error.serverInfo?[.sqlState] {
        case "23505":
            return .conflict("The resource already exists.", code: "conflict")
        case "23503":
            return .conflict("The resource refers to something that does not exist.", code: "conflict")
        case "22P02", "22P05", "22001", "22003", "22021", "23502", "23514":
            return .badRequest("A value is not acceptable.", code: "invalid_value")
        case "40001", "40P01":
            return .unavailable("The request conflicted with another; try again.", retryAfterSeconds: 1)
        case nil:
            // No server answer at all: the database is down or unreachable.
            logger.warning("database unavailable", metadata: ["error": "\(String(reflecting: error))"])
            return .unavailable("The database is unavailable. Try again shortly.", retryAfterSeconds: 1)
        default:
            logger.error("database error", metadata: ["error": "\(String(reflecting: error))"])
            return .internalError
        }
    }

    static func slug(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: "content_too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        case .badRequest: "bad_request"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        default: status.code >= 500 ? "server_error" : "client_error"
        }
    }

    /// A decoding failure said for a client: where in the body, and what was wrong.
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let names = codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return names.isEmpty ? "the body" : "'" + names.joined(separator: ".") + "'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "The field '\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))' is required."
        case .typeMismatch(_, let context):
            return "The value of \(path(context.codingPath)) has the wrong type."
        case .valueNotFound(_, let context):
            return "The value of \(path(context.codingPath)) must not be null."
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "The request body is not valid JSON." : "The value of \(path(context.codingPath)) is not valid."
        @unknown default:
            return "The request body could not be read."
        }
    }
}
