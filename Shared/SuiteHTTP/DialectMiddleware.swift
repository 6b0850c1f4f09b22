public import Hummingbird
public import SuiteCore

/// Sets the error dialect of a route group: its routes' errors are rendered in `dialect`
/// whatever their path (the vault's OAuth endpoints answer RFC 6749 §5.2 JSON, its other
/// routes FastAPI's). Routes outside any such group, and requests no route takes, answer
/// in the service's `errorDialect(forPath:)`.
public struct DialectMiddleware<Context: SuiteRequestContext>: RouterMiddleware {
    let dialect: ErrorDialect

    public init(_ dialect: ErrorDialect) {
        self.dialect = dialect
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return RequestMiddleware<Context>.response(for: RequestMiddleware<Context>.appError(for: error, logger: context.logger), dialect: dialect)
        }
    }
}
