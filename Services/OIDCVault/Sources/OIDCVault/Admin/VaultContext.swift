import Hummingbird
public import SuiteHTTP
import SuiteCore
import SuiteSigning

/// The request context of the vault: the principal (an API key, the operator's key, or a
/// user's bearer token) `PrincipalAuthenticator` found for a route of an administered group.
public typealias VaultContext = AuthenticatedContext<Principal>

extension AuthenticatedContext where Identity == Principal {
    /// Who calls (a route without one is a wiring mistake, and refuses).
    func principal() throws -> Principal {
        guard let identity else { throw Authenticator.unauthenticated }
        return identity
    }
}

/// Refuses a request of an administered group without a valid API key or bearer token
/// (401) before any handler reads it; what the principal may do (scopes, tenant) each
/// handler asks with `principal.require(_:tenant:)`.
struct PrincipalAuthenticator: RouterMiddleware {
    typealias Context = VaultContext
    let authenticator: Authenticator

    func handle(_ request: Request, context: VaultContext, next: (Request, VaultContext) async throws -> Response) async throws -> Response {
        var context = context
        context.identity = try await authenticator.principal(request, context: context)
        return try await next(request, context)
    }
}

extension RouterMethods where Context == VaultContext {
    /// The group of routes that need a principal.
    func administered(by authenticator: Authenticator) -> RouterGroup<VaultContext> {
        group().add(middleware: PrincipalAuthenticator(authenticator: authenticator))
    }
}
