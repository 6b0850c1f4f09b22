import AsyncHTTPClient
import Foundation
import NIOCore
import SuiteCore
import SuiteHTTP

/// The calls to the providers, each ending in who the caller is. A provider that
/// refuses the token is a 401; one that is down, slow or answers nonsense is a 503/502
/// within the request's deadline, never a 500.
struct SocialProviders: Sendable {
    let settings: SocialSettings
    let http: HTTPClient
    let googleTokens: IDTokenVerifier?
    let appleTokens: IDTokenVerifier?
    let vaultTokens: IDTokenVerifier?
    let vaultTokenURL: String?
    let timeout: Duration = .seconds(5)

    /// `vaultBase`: the vault's internal URL (`OIDC_VAULT_URL`), when this deployment has one.
    init(settings: SocialSettings, http: HTTPClient, vaultBase: String? = nil) {
        self.settings = settings
        self.http = http
        let vaultEndpoints = settings.vault.map { $0.endpoints(internalBase: vaultBase) }
        vaultTokens = settings.vault.flatMap { vault in
            vaultEndpoints.map {
                IDTokenVerifier(jwksURL: $0.jwks, issuers: [vault.issuer], audiences: [vault.clientID], algorithms: ["EdDSA", "RS256"], http: http)
            }
        }
        vaultTokenURL = vaultEndpoints?.token
        googleTokens = settings.google.map {
            IDTokenVerifier(jwksURL: $0.jwksURL, issuers: $0.issuers, audiences: [$0.clientID], http: http)
        }
        appleTokens = settings.apple.map {
            IDTokenVerifier(jwksURL: $0.jwksURL, issuers: [$0.issuer], audiences: $0.clientIDs, http: http)
        }
    }

    /// A provider this deployment does not offer is not here, like any unknown route (the
    /// detail names the setting that would turn it on; the log lists those on at start).
    static func notConfigured(_ name: String, _ variable: String) -> AppError {
        Problem.notFound("\(name) sign-in is not offered here (\(variable) is not set).")
    }

    static let refused = Problem.unauthenticated("the provider refused the token")

    // MARK: Google

    func google() throws(AppError) -> SocialSettings.Google {
        guard let google = settings.google else { throw Self.notConfigured("Google", "UAI_GOOGLE_CLIENT_ID") }
        return google
    }

    /// An access token of our client: tokeninfo says whom it was issued to, userinfo who it is.
    func googleAccessToken(_ token: String) async throws -> SocialIdentity {
        let google = try google()
        let info = try await getJSON(google.tokeninfoURL + "?access_token=" + Percent.encode(token), provider: "Google")
        guard info["aud"]?.stringValue == google.clientID || info["azp"]?.stringValue == google.clientID else { throw Self.refused }
        return try googleIdentity(try await getJSON(google.userinfoURL, bearer: token, provider: "Google"))
    }

    /// An ID token (One Tap's `credential`, or the code exchange's `id_token`).
    func googleIDToken(_ token: String) async throws -> SocialIdentity {
        guard let verifier = googleTokens else { throw Self.notConfigured("Google", "UAI_GOOGLE_CLIENT_ID") }
        return try googleIdentity(try await Self.verified(token, by: verifier))
    }

    func googleCode(_ code: String, redirectURI: String) async throws -> SocialIdentity {
        let google = try google()
        let answer = try await postForm(
            google.tokenURL,
            [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("client_id", google.clientID),
             ("client_secret", google.clientSecret ?? "")], provider: "Google")
        if let idToken = answer["id_token"]?.stringValue { return try await googleIDToken(idToken) }
        guard let access = answer["access_token"]?.stringValue else { throw AppError.badGateway("Google answered the code without a token.") }
        return try await googleAccessToken(access)
    }

    private func googleIdentity(_ claims: [String: JSONValue]) throws(AppError) -> SocialIdentity {
        guard let subject = claims["sub"]?.stringValue, !subject.isEmpty else { throw AppError.badGateway("Google did not say who the user is.") }
        return SocialIdentity(
            provider: "google", subject: subject, email: claims["email"]?.stringValue?.lowercased(),
            emailVerified: Self.isTrue(claims["email_verified"]), name: claims["name"]?.stringValue)
    }

    // MARK: Facebook

    func facebook() throws(AppError) -> SocialSettings.Facebook {
        guard let facebook = settings.facebook else { throw Self.notConfigured("Facebook", "UAI_FACEBOOK_APP_ID") }
        return facebook
    }

    /// `debug_token` (with our app token) says the token is valid and ours; `me` who it is.
    func facebookAccessToken(_ token: String) async throws -> SocialIdentity {
        let facebook = try facebook()
        let debug = try await getJSON(
            facebook.graphURL + "/debug_token?input_token=" + Percent.encode(token) + "&access_token=" + Percent.encode(facebook.appID + "|" + facebook.appSecret),
            provider: "Facebook")
        guard case .object(let data)? = debug["data"], data["app_id"]?.stringValue == facebook.appID, Self.isTrue(data["is_valid"]) else {
            throw Self.refused
        }
        let me = try await getJSON(facebook.graphURL + "/me?fields=id,name,email", bearer: token, provider: "Facebook")
        guard let subject = me["id"]?.stringValue, !subject.isEmpty, data["user_id"]?.stringValue.map({ $0 == subject }) ?? true else {
            throw Self.refused
        }
        // Facebook shares only confirmed addresses.
        return SocialIdentity(
            provider: "facebook", subject: subject, email: me["email"]?.stringValue?.lowercased(), emailVerified: me["email"] != nil,
            name: me["name"]?.stringValue)
    }

    func facebookCode(_ code: String, redirectURI: String) async throws -> SocialIdentity {
        let facebook = try facebook()
        let answer = try await getJSON(
            facebook.graphURL + "/oauth/access_token?client_id=" + Percent.encode(facebook.appID) + "&redirect_uri=" + Percent.encode(redirectURI)
                + "&client_secret=" + Percent.encode(facebook.appSecret) + "&code=" + Percent.encode(code), provider: "Facebook")
        guard let access = answer["access_token"]?.stringValue else { throw AppError.badGateway("Facebook answered the code without a token.") }
        return try await facebookAccessToken(access)
    }

    // MARK: The suite's OIDC vault (flow 3)

    func vault() throws(AppError) -> SocialSettings.Vault {
        guard let vault = settings.vault else { throw Self.notConfigured("Vault", "UAI_VAULT_ISSUER") }
        return vault
    }

    /// A vault ID token (with the `nonce` the client sent, when it says which).
    func vaultIDToken(_ token: String, nonce: String?) async throws -> SocialIdentity {
        guard let verifier = vaultTokens else { throw Self.notConfigured("Vault", "UAI_VAULT_ISSUER") }
        let claims: [String: JSONValue]
        do {
            claims = try await verifier.verify(token, nonce: nonce)
        } catch let refusal as IDTokenVerifier.Refusal {
            throw Problem.unauthenticated("the ID token was refused: \(refusal.description)")
        }
        guard let subject = claims["sub"]?.stringValue, !subject.isEmpty else { throw Self.refused }
        var identity = SocialIdentity(
            provider: "vault", subject: (claims["tenant_id"]?.stringValue ?? "") + ":" + subject, email: claims["email"]?.stringValue?.lowercased(),
            emailVerified: Self.isTrue(claims["email_verified"]), name: claims["preferred_username"]?.stringValue)
        identity.accountID = claims["external_id"]?.stringValue.flatMap(UUID.init(uuidString:))
        return identity
    }

    /// The code flow's end: the code (with PKCE's verifier) for tokens at the vault, and
    /// its ID token checked as any other.
    func vaultCode(_ code: String, redirectURI: String, verifier: String?, nonce: String?) async throws -> SocialIdentity {
        let vault = try vault()
        var fields = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("client_id", vault.clientID)]
        if let verifier { fields.append(("code_verifier", verifier)) }
        if let secret = vault.clientSecret { fields.append(("client_secret", secret)) }
        let answer = try await postForm(vaultTokenURL ?? "", fields, provider: "The vault")
        guard let idToken = answer["id_token"]?.stringValue else {
            throw AppError.badGateway("The vault answered the code without an ID token (is openid in the client's scopes?).")
        }
        return try await vaultIDToken(idToken, nonce: nonce)
    }

    // MARK: Apple, Erasmusu, WG-Gesucht

    /// Apple's identity token (sent as `access_token`), checked against Apple's keys.
    func apple(_ token: String) async throws -> SocialIdentity {
        guard let verifier = appleTokens else { throw Self.notConfigured("Apple", "UAI_APPLE_CLIENT_IDS") }
        let claims = try await Self.verified(token, by: verifier)
        guard let subject = claims["sub"]?.stringValue, !subject.isEmpty else { throw Self.refused }
        return SocialIdentity(
            provider: "apple", subject: subject, email: claims["email"]?.stringValue?.lowercased(),
            emailVerified: Self.isTrue(claims["email_verified"]), name: nil)
    }

    /// A bearer access token of Erasmusu's or WG-Gesucht's auth service → its user
    /// (`id`, `email`, `email_verified` or `verified`, `name` or first and last names).
    func userEndpoint(_ provider: String, _ token: String) async throws -> SocialIdentity {
        let url = provider == "erasmusu" ? settings.erasmusuUserURL : settings.wggUserURL
        guard let url else {
            throw Self.notConfigured(provider == "erasmusu" ? "Erasmusu" : "WG-Gesucht", provider == "erasmusu" ? "UAI_ERASMUSU_USER_URL" : "UAI_WGG_USER_URL")
        }
        var user = try await getJSON(url, bearer: token, provider: provider)
        if case .object(let inner)? = user["user"] { user = inner }
        let subject: String? = switch user["id"] {
        case .string(let text): text
        case .number(let number): String(Int(number))
        default: nil
        }
        guard let subject, !subject.isEmpty else { throw AppError.badGateway("\(provider) did not say who the user is.") }
        let name = user["name"]?.stringValue
            ?? [user["first_name"]?.stringValue, user["last_name"]?.stringValue].compactMap { $0 }.joined(separator: " ")
        return SocialIdentity(
            provider: provider, subject: subject, email: user["email"]?.stringValue?.lowercased(),
            emailVerified: Self.isTrue(user["email_verified"]) || Self.isTrue(user["verified"]), name: name.isEmpty ? nil : name)
    }

    // MARK: HTTP

    static func verified(_ token: String, by verifier: IDTokenVerifier) async throws -> [String: JSONValue] {
        do {
            return try await verifier.verify(token)
        } catch let refusal as IDTokenVerifier.Refusal {
            throw Problem.unauthenticated("the ID token was refused: \(refusal.description)")
        }
    }

    static func isTrue(_ value: JSONValue?) -> Bool {
        switch value {
        case .bool(let flag): flag
        case .string(let text): text == "true"
        default: false
        }
    }

    func getJSON(_ url: String, bearer: String? = nil, provider: String) async throws -> [String: JSONValue] {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        return try await send(request, provider: provider)
    }

    func postForm(_ url: String, _ fields: [(String, String)], provider: String) async throws -> [String: JSONValue] {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: TextMessageSender.form(fields)))
        return try await send(request, provider: provider)
    }

    private func send(_ request: HTTPClientRequest, provider: String) async throws -> [String: JSONValue] {
        let (status, body) = try await InternalClient.thirdParty(request, party: provider, http: http, timeout: timeout)
        // A refused token or code is the caller's problem; anything else is the provider's.
        if (400..<500).contains(status) { throw Self.refused }
        guard (200..<300).contains(status) else { throw AppError.badGateway("\(provider) answered \(status).") }
        guard case .object(let object)? = try? JSONParser.parse(Array(buffer: body)) else {
            throw AppError.badGateway("\(provider)'s answer could not be read.")
        }
        return object
    }
}
