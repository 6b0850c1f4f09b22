public import Hummingbird
import SuiteCore
public import SuiteSigning

/// Guards `/internal/` routes: the caller must present a service token from a trusted
/// peer, meant for this service, and holding `scope` when the route names one.
public struct ServiceTokenMiddleware<Context: SuiteRequestContext>: RouterMiddleware {
    let verifier: ServiceTokenVerifier
    let scope: String?

    public init(verifier: ServiceTokenVerifier, scope: String? = nil) {
        self.verifier = verifier
        self.scope = scope
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let token = request.headers[.authorization].flatMap(Self.bearerToken) else {
            throw AppError(
                status: .unauthorized, code: "missing_service_token",
                detail: "This route needs a service token: Authorization: Bearer <token>.",
                headers: [.wwwAuthenticate: "Bearer"])
        }
        let caller = try await verifier.verify(token)
        if let scope, !caller.has(scope: scope) {
            throw AppError(
                status: .forbidden, code: "insufficient_scope",
                detail: "The service token of \(caller.service) lacks the scope '\(scope)'.",
                headers: [.wwwAuthenticate: #"Bearer error="insufficient_scope", scope="\#(scope)""#])
        }
        var context = context
        context.serviceCaller = caller
        context.logger[metadataKey: "caller"] = .string(caller.service)
        return try await next(request, context)
    }

    /// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
    static func bearerToken(_ header: String) -> String? {
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}
