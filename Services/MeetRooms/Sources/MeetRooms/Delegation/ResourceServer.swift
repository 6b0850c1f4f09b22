import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import SuiteContracts
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// Access tokens of an OpenID Connect provider on the rooms routes (La Suite Meet's
/// `ResourceServerAuthentication`): the token is introspected (RFC 7662) at the provider
/// with meet-rooms' own client, its `rooms:*` scopes kept (with or without the configured
/// prefix), and its user found by email at user-identity (or made provisional when
/// `MEET_ALLOW_USER_CREATION` is on). The caller is then `oidc:<client_id>`, with the
/// token's scopes in place of an application's. An answer is kept at most
/// `cacheSeconds` and never past the token's `exp`, so a revocation at the provider
/// takes effect within that ceiling.
struct ResourceServer: Sendable {
    let settings: MeetSettings.ResourceServer
    let users: DelegatedUsers
    let audience: String
    let peers: InternalClient
    let timeout: Duration
    private let known = TokenMemo<Known>(capacity: 10_000)

    struct Known: Sendable {
        let claims: DelegationClaims?
        let until: ContinuousClock.Instant
    }

    init(settings: MeetSettings.ResourceServer, users: DelegatedUsers, audience: String, peers: InternalClient, timeout: Duration) {
        self.settings = settings
        self.users = users
        self.audience = audience
        self.peers = peers
        self.timeout = timeout
    }

    /// What was learnt of `token` and is still fresh: its claims, a 401 when the provider
    /// said it is not active, nil when it must be asked. Checked before anything else, so
    /// a known provider token costs no signature check.
    func cached(_ token: String) throws -> DelegationClaims? {
        guard let known = known.get(token), known.until > .now else { return nil }
        guard let claims = known.claims else { throw MeetError.invalidToken }
        return claims
    }

    /// The claims a provider token stands for; 401 when the provider says it is not active.
    func claims(_ token: String, context: MeetContext) async throws -> DelegationClaims {
        if let claims = try cached(token) { return claims }
        let now = ContinuousClock.now
        let answer = try await introspect(token, logger: context.logger)
        let wallNow = Int(Date().timeIntervalSince1970)
        guard answer["active"]?.boolValue == true, let exp = answer["exp"]?.intValue, exp > wallNow else {
            known.put(token, Known(claims: nil, until: now + .seconds(settings.cacheSeconds)))
            throw MeetError.invalidToken
        }
        let scopes = Self.roomScopes(answer["scope"]?.stringValue ?? "", prefix: settings.scopePrefix)
        guard let email = answer["email"]?.stringValue, Validate.isEmail(email) else {
            throw MeetError.unauthorized("The token does not carry the user's email (scope email).")
        }
        guard let user = try await users.user(email, context: context) else { throw MeetError.unauthorized("User not found.") }
        let claims = DelegationClaims(
            iss: answer["iss"]?.stringValue ?? "oidc", aud: audience, iat: wallNow, exp: exp, jti: answer["jti"]?.stringValue ?? "",
            client_id: "oidc:" + (answer["client_id"]?.stringValue ?? ""), user_id: user.id, scope: scopes.joined(separator: " "),
            delegated: false)
        let ceiling = min(settings.cacheSeconds, max(0, exp - wallNow))
        known.put(token, Known(claims: claims, until: now + .seconds(ceiling)))
        return claims
    }

    /// The External API scopes among `scope`, lowercased, with or without `prefix`.
    static func roomScopes(_ scope: String, prefix: String) -> [String] {
        var found: [String] = []
        for word in scope.split(separator: " ") {
            var name = word.lowercased()
            if !prefix.isEmpty, name.hasPrefix(prefix.lowercased()) { name = String(name.dropFirst(prefix.count)) }
            if MeetScope(rawValue: name) != nil, !found.contains(name) { found.append(name) }
        }
        return found
    }

    /// POST token=… to the introspection endpoint as this service's client.
    private func introspect(_ token: String, logger: Logger) async throws -> JSONValue {
        var request = HTTPClientRequest(url: settings.introspectionURL)
        request.method = .POST
        let credentials = Self.formEscape(settings.clientID) + ":" + Self.formEscape(settings.clientSecret)
        request.headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: "token=" + Self.formEscape(token) + "&token_type_hint=access_token"))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await peers.http.execute(request, deadline: InternalClient.deadline(timeout))
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            logger.warning("token introspection unreachable", metadata: ["error": "\(String(reflecting: error))"])
            throw AppError.unavailable("The identity provider could not be reached. Try again shortly.", retryAfterSeconds: 1)
        }
        guard response.status == .ok, let answer = try? JSONParser.parse(Array(buffer: body)) else {
            logger.error("token introspection refused", metadata: ["status": "\(response.status.code)"])
            throw AppError.badGateway("The identity provider refused to introspect the token.")
        }
        return answer
    }

    /// application/x-www-form-urlencoded, as RFC 6749 §2.3.1 wants the Basic credentials too.
    static func formEscape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
