import Foundation
import Hummingbird
import Logging
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// The claims of a delegation token: an application acting for a user.
public struct DelegationClaims: Codable, Sendable {
    var iss: String
    var aud: String
    var iat: Int
    var exp: Int
    var jti: String
    var client_id: String
    var user_id: String
    var scope: String
    var delegated: Bool
}

/// Who is calling a rooms route: the application and the user it acts for.
struct Caller: Sendable {
    let clientID: String
    let userID: UUID
    let scopes: Set<String>
}

/// Meet's errors, in the words of the seed and of DRF.
enum MeetError {
    static let invalidToken = AppError(
        status: .unauthorized, code: "invalid_token", detail: "Invalid token.", headers: [.wwwAuthenticate: "Bearer"])
    static let expiredToken = AppError(
        status: .unauthorized, code: "invalid_token", detail: "Token expired.",
        headers: [.wwwAuthenticate: #"Bearer error="invalid_token", error_description="expired""#])
    static let notFound = AppError(status: .notFound, code: "not_found", detail: "Not found.")
    static let invalidPage = AppError(status: .notFound, code: "not_found", detail: "Invalid page.")
    static let notAllowed = AppError(
        status: .forbidden, code: "forbidden", detail: "You do not have permission to perform this action.")

    /// La Suite Meet's 401 for a token whose application or user is no longer what it was.
    static func unauthorized(_ message: String) -> AppError {
        AppError(status: .unauthorized, code: "invalid_token", detail: message, headers: [.wwwAuthenticate: "Bearer"])
    }

    static func missingScope(_ scope: String) -> AppError {
        AppError(status: .forbidden, code: "insufficient_scope", detail: "Insufficient permissions. Required scope: '\(scope)'")
    }

    /// `{"error": "…"}`, the token endpoint's body.
    static func token(_ status: HTTPResponse.Status, _ message: String) -> AppError {
        AppError(status: status, code: "token_error", detail: message, members: ["error": .string(message)])
    }

    /// DRF field errors: `{"scope": ["Invalid email address."]}`.
    static func fields(_ errors: [String: [String]]) -> AppError {
        AppError(
            status: .badRequest, code: "fields", detail: "Invalid request data.",
            members: errors.mapValues { .array($0.map(JSONValue.string)) })
    }
}

/// Issues and checks delegation tokens.
struct Delegation: Sendable {
    let settings: MeetSettings
    let jws: CompactJWS
    let applications: ApplicationStore
    let users: UserStanding
    /// Provider access tokens (`MEET_OIDC_*`); nil: delegation tokens only.
    let resourceServer: ResourceServer?
    private let verified = TokenMemo<DelegationClaims>()

    init(settings: MeetSettings, applications: ApplicationStore, users: UserStanding, resourceServer: ResourceServer? = nil) {
        self.settings = settings
        self.jws = CompactJWS(key: .eddsa(settings.signingKey))
        self.applications = applications
        self.users = users
        self.resourceServer = resourceServer
    }

    static func bearer(_ request: Request) -> String? {
        request.headers[.authorization].flatMap { AuthorizationHeader.token($0, allowBare: false) }
    }

    /// Whether `token` carries our signature (then its refusal stands: expired, foreign audience…).
    func isOurs(_ token: String) -> Bool { (try? jws.verify(token)) != nil }

    /// A caller's standing: an application's (delegation tokens), or the token's own
    /// scopes (provider tokens, which no application row stands behind).
    func standing(_ claims: DelegationClaims, application: (active: Bool, scopes: [String])?) -> (active: Bool, scopes: [String])? {
        claims.delegated ? application : (true, claims.scope.split(separator: " ").map(String.init))
    }

    func issue(clientID: String, userID: String, scopes: [String], now: Int = Int(Date().timeIntervalSince1970)) -> String {
        Self.issue(clientID: clientID, userID: userID, scopes: scopes, settings: settings, jws: jws, now: now)
    }

    /// A delegation token signed with `settings`' key (what the token endpoint mints).
    static func issue(
        clientID: String, userID: String, scopes: [String], settings: MeetSettings,
        jws: CompactJWS? = nil, now: Int = Int(Date().timeIntervalSince1970)
    ) -> String {
        let claims = DelegationClaims(
            iss: settings.issuer, aud: settings.audience, iat: now, exp: now + settings.tokenTTL,
            jti: UUID().uuidString.lowercased(), client_id: clientID, user_id: userID, scope: scopes.joined(separator: " "),
            delegated: true)
        return (jws ?? CompactJWS(key: .eddsa(settings.signingKey))).sign(payload: (try? JSONEncoder().encode(claims)) ?? Data())
    }

    /// The caller of a rooms route, who must hold `scope`: the token is ours and fresh,
    /// its application still exists, is active and still has the scope, and its user
    /// still exists and is enabled (asked of user-identity at the same time).
    func caller(_ context: MeetContext, scope: MeetScope) async throws -> Caller {
        let claims = try context.claims()
        guard let user = UUID(uuidString: claims.user_id) else { throw MeetError.invalidToken }
        async let userChecked: Void = users.require(user, context: context)
        let application = claims.delegated ? try await applications.standing(of: claims.client_id) : nil
        let caller = try authorize(claims, standing: standing(claims, application: application), scope: scope)
        try await userChecked
        return caller
    }

    /// The claims of a fresh token of ours; the application's standing is checked by
    /// `authorize`, by itself or with the data a route reads anyway (one round trip).
    func claims(_ request: Request, now: Int = Int(Date().timeIntervalSince1970)) throws -> DelegationClaims {
        guard let header = request.headers[.authorization], let token = AuthorizationHeader.token(header, allowBare: false) else {
            throw MeetError.invalidToken
        }
        let claims = try verify(token)
        guard claims.exp > now else { throw MeetError.expiredToken }
        guard claims.iat <= now + 60 else { throw MeetError.invalidToken }
        return claims
    }

    /// The caller, if its application still exists, is active and still has `scope`
    /// (La Suite Meet's messages); the user is checked apart, by `users`.
    func authorize(_ claims: DelegationClaims, standing: (active: Bool, scopes: [String])?, scope: MeetScope) throws -> Caller {
        guard let standing else { throw MeetError.unauthorized("Application not found.") }
        guard standing.active else { throw MeetError.unauthorized("Application is disabled.") }
        guard let userID = UUID(uuidString: claims.user_id) else { throw MeetError.invalidToken }
        // Compared without case, as La Suite Meet lowercases scopes.
        let scopes = Set(claims.scope.split(separator: " ").map { $0.lowercased() }).intersection(standing.scopes.map { $0.lowercased() })
        guard scopes.contains(scope.rawValue) else { throw MeetError.missingScope(scope.rawValue) }
        return Caller(clientID: claims.client_id, userID: userID, scopes: scopes)
    }

    private func verify(_ token: String) throws -> DelegationClaims {
        if let known = verified.get(token) { return known }
        guard let (_, payload) = try? jws.verify(token),
            let claims = try? JSONDecoder().decode(DelegationClaims.self, from: payload),
            claims.iss == settings.issuer, claims.aud == settings.audience, claims.delegated
        else { throw MeetError.invalidToken }
        verified.put(token, claims)
        return claims
    }
}
