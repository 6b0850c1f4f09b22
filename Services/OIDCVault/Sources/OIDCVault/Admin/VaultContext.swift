import Hummingbird
public import SuiteHTTP

/// The request context of the vault: the principal (an API key, the operator's key, or a
/// user's bearer token) found for a route of an administered group.
public typealias VaultContext = AuthenticatedContext<Principal>

extension AuthenticatedContext where Identity == Principal {
    /// Who calls.
    func principal() throws -> Principal { try identity(orThrow: Authenticator.unauthenticated) }
}

extension RouterMethods where Context == VaultContext {
    /// The group of routes that need a principal: refused (401) without a valid API key or
    /// bearer token before any handler reads the request; what the principal may do
    /// (scopes, tenant) each handler asks with `principal.require(_:tenant:)`.
    func administered(by authenticator: Authenticator) -> RouterGroup<VaultContext> {
        group().add(middleware: Authenticate { request, context in try await authenticator.principal(request, context: context) })
    }
}
