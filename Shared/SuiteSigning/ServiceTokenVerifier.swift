import Crypto
public import Foundation
public import SuiteCore

/// Checks the service tokens that reach this service's `/internal/` routes.
///
/// The algorithm is pinned before any key is touched (EdDSA only: `none`, HS256 made
/// with a public key and RS/ES substitutions are refused on sight), the `kid` must name
/// a key of the issuer the token claims (a key of one peer never vouches for another),
/// and `aud`, `exp`, `nbf`/`iat` (with a small leeway) and `sub` are checked against
/// this service's clock. A token that passed is remembered until it expires, so a peer
/// reusing its token costs a dictionary lookup instead of a signature check.
public final class ServiceTokenVerifier: Sendable {
    public typealias JWKSFetcher = @Sendable (_ url: String) async throws -> JWKS

    public let audience: String
    public let leewaySeconds: Int
    /// Tokens meant to live longer than this are refused: a leaked one must die soon.
    public let maxLifetimeSeconds: Int
    private let trust: ServiceTrust
    private let fetchJWKS: JWKSFetcher
    private let state: ReadMostly<State>

    private struct State {
        var keys: [String: [String: Curve25519.Signing.PublicKey]] = [:]
        var lastFetch: [String: Date] = [:]
        /// Issuers whose last fetch failed: tried again after 1 s, not 10.
        var failedFetch: Set<String> = []
        /// The fetch under way per issuer: concurrent callers wait for it.
        var fetching: [String: Task<[String: Curve25519.Signing.PublicKey]?, Never>] = [:]
        var verified: [String: ServiceCaller] = [:]
    }

    public init(
        audience: String,
        trust: ServiceTrust,
        leewaySeconds: Int = 5,
        maxLifetimeSeconds: Int = 300,
        fetchJWKS: @escaping JWKSFetcher
    ) {
        self.audience = audience
        self.trust = trust
        self.leewaySeconds = leewaySeconds
        self.maxLifetimeSeconds = maxLifetimeSeconds
        self.fetchJWKS = fetchJWKS
        var initial = State()
        for (issuer, source) in trust.issuers {
            if case .keys(let keys) = source { initial.keys[issuer] = keys }
        }
        self.state = ReadMostly(initial)
    }

    public var trustedIssuers: [String] { trust.issuers.keys.sorted() }

    /// Verifies `token`, returning the caller, or throws a 401 `AppError` that says why.
    public func verify(_ token: String, now: Date = Date()) async throws(AppError) -> ServiceCaller {
        let seconds = Int(now.timeIntervalSince1970)
        if let known = state.read({ $0.verified[token] }) {
            guard known.expiresAt + leewaySeconds > seconds else { throw Self.reject("The service token has expired.") }
            return known
        }

        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Base64URL.decode(parts[0]), let payloadData = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2]),
            let header = try? JSONDecoder().decode(Header.self, from: headerData)
        else { throw Self.reject("The service token is malformed.") }
        guard header.alg == "EdDSA" else { throw Self.reject("Service tokens must be signed with EdDSA.") }
        guard let kid = header.kid, !kid.isEmpty else { throw Self.reject("The service token names no key (kid).") }
        guard let unverified = try? JSONDecoder().decode(IssuerOnly.self, from: payloadData),
            trust.issuers[unverified.iss] != nil
        else { throw Self.reject("The service token's issuer is not trusted here.") }

        guard let key = await key(issuer: unverified.iss, kid: kid, now: now) else {
            throw Self.reject("The service token is signed by a key its issuer does not publish.")
        }
        let signingInput = token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count)
        guard key.isValidSignature(signature, for: Array(signingInput)) else {
            throw Self.reject("The service token's signature is invalid.")
        }
        guard let claims = try? JSONDecoder().decode(ServiceTokenClaims.self, from: payloadData) else {
            throw Self.reject("The service token lacks required claims.")
        }
        guard claims.aud == audience else { throw Self.reject("The service token is meant for another service.") }
        guard claims.sub == "service:\(claims.iss)" else {
            throw Self.reject("The service token's subject does not match its issuer.")
        }
        guard claims.exp + leewaySeconds > seconds else { throw Self.reject("The service token has expired.") }
        guard claims.iat <= seconds + leewaySeconds, (claims.nbf ?? claims.iat) <= seconds + leewaySeconds else {
            throw Self.reject("The service token is not valid yet.")
        }
        guard claims.exp - claims.iat <= maxLifetimeSeconds else {
            throw Self.reject("The service token lives longer than \(maxLifetimeSeconds) seconds.")
        }

        let caller = ServiceCaller(
            service: claims.iss, scopes: Set(claims.scope.split(separator: " ").map(String.init)),
            tokenID: claims.jti, expiresAt: claims.exp)
        state.write { state in
            if state.verified.count >= 4096 {
                state.verified = state.verified.filter { $0.value.expiresAt + leewaySeconds > seconds }
                if state.verified.count >= 4096 { state.verified.removeAll(keepingCapacity: true) }
            }
            state.verified[token] = caller
        }
        return caller
    }

    /// The issuer's key named `kid`. For a JWKS issuer an unknown `kid` fetches the set
    /// again, at most once every 10 s (1 s after a failed fetch), so a rotation is picked
    /// up without a restart and a flood of made-up `kid`s cannot turn this service into a
    /// load on its peer. Callers that arrive while a fetch is under way wait for it.
    private func key(issuer: String, kid: String, now: Date) async -> Curve25519.Signing.PublicKey? {
        if let key = state.read({ $0.keys[issuer]?[kid] }) { return key }
        guard case .jwks(let url) = trust.issuers[issuer] else { return nil }
        let fetchJWKS = self.fetchJWKS
        let fetch = state.write { state -> Task<[String: Curve25519.Signing.PublicKey]?, Never>? in
            if let running = state.fetching[issuer] { return running }
            let pause: TimeInterval = state.failedFetch.contains(issuer) ? 1 : 10
            if let last = state.lastFetch[issuer], now.timeIntervalSince(last) < pause { return nil }
            state.lastFetch[issuer] = now
            let task = Task { (try? await fetchJWKS(url))?.ed25519Keys() }
            state.fetching[issuer] = task
            return task
        }
        guard let fetch else { return nil }
        let keys = await fetch.value
        state.write { state in
            state.fetching[issuer] = nil
            if let keys {
                state.keys[issuer] = keys
                state.failedFetch.remove(issuer)
            } else {
                state.failedFetch.insert(issuer)
            }
        }
        return keys?[kid]
    }

    private static func reject(_ detail: String) -> AppError {
        AppError(
            status: .unauthorized, code: "invalid_service_token", detail: detail,
            headers: [.wwwAuthenticate: #"Bearer error="invalid_token""#])
    }

    private struct Header: Decodable {
        var alg: String
        var kid: String?
    }

    private struct IssuerOnly: Decodable {
        var iss: String
    }
}
