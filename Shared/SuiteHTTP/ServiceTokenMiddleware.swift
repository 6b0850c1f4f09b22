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
        AuthorizationHeader.token(header, allowBare: false)
    }
}

/// Reads the token of an `Authorization` header on bytes: Foundation's trimming goes
/// through UTF-16 and was the largest cost of authenticated reads.
public enum AuthorizationHeader {
    /// `Bearer <token>` (scheme in any case), or with `allowBare` a lone `<token>` as
    /// User&Identity's seed sends it. `nil` for anything else.
    public static func token(_ header: String, allowBare: Bool) -> String? {
        var bytes = Substring(header).utf8[...]
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        while let first = bytes.first, isSpace(first) { bytes = bytes.dropFirst() }
        while let last = bytes.last, isSpace(last) { bytes = bytes.dropLast() }
        let scheme = Array("bearer ".utf8)
        if bytes.count > scheme.count, zip(bytes.prefix(scheme.count), scheme).allSatisfy({ $0 | 0x20 == $1 }) {
            bytes = bytes.dropFirst(scheme.count)
            while let first = bytes.first, isSpace(first) { bytes = bytes.dropFirst() }
        } else if !allowBare {
            return nil
        }
        guard !bytes.isEmpty, !bytes.contains(where: isSpace) else { return nil }
        return String(Substring(bytes))
    }
}
