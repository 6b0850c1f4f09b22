import Hummingbird
public import SuiteHTTP
import SuiteCore

/// The request context of user-identity: the access token's claims the signed-in group's
/// authenticator (`UserTokens.authenticator`) verified.
public typealias UAIContext = AuthenticatedContext<UserClaims>

extension AuthenticatedContext where Identity == UserClaims {
    /// The signed-in caller.
    func caller() throws -> UserClaims { try identity(orThrow: Problem.missingToken) }
}

extension UserTokens {
    /// Refuses a request of the signed-in group without a valid access token of ours
    /// (401, in the seed's problem shape); what the caller may do (roles, read from
    /// PostgreSQL) each handler asks with `Core.caller(_:anyOf:)`.
    var authenticator: Authenticate<UserClaims> {
        Authenticate { [self] request, _ in
            guard let token = Core.token(request) else { throw Problem.missingToken }
            return try verify(token, audience: .access).claims
        }
    }
}
