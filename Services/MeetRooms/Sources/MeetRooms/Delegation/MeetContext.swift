import Hummingbird
public import SuiteHTTP

/// The request context of meet-rooms: the delegation token the rooms group's
/// authenticator (`Delegation.authenticator`) verified.
public typealias MeetContext = AuthenticatedContext<DelegationClaims>

extension AuthenticatedContext where Identity == DelegationClaims {
    /// The verified token's claims.
    func claims() throws -> DelegationClaims { try identity(orThrow: MeetError.invalidToken) }
}

extension Delegation {
    /// Refuses a rooms request without a fresh delegation token of ours (La Suite Meet's
    /// 401s); what the token allows (scope, application and user standing) each handler
    /// checks with what it reads.
    var authenticator: Authenticate<DelegationClaims> {
        Authenticate { [self] request, context in
            if let resourceServer, let token = Self.bearer(request), let known = try resourceServer.cached(token) { return known }
            do {
                return try claims(request)
            } catch {
                // Not one of our delegation tokens: a provider's access token, when configured.
                guard let resourceServer, let token = Self.bearer(request), !isOurs(token) else { throw error }
                return try await resourceServer.claims(token, context: context)
            }
        }
    }
}

/// What a delegation token may allow: the External API's scopes.
enum MeetScope: String, CaseIterable, Sendable {
    case roomsList = "rooms:list"
    case roomsRetrieve = "rooms:retrieve"
    case roomsCreate = "rooms:create"
    case roomsUpdate = "rooms:update"
    case roomsDelete = "rooms:delete"
}
