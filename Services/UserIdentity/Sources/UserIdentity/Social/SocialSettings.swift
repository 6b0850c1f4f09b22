import Foundation
import SuiteCore

/// The social providers a deployment accepts; each is off until its client id (or user
/// endpoint) is set. Every URL is configuration, so tests and staging point at fakes.
public struct SocialSettings: Sendable, Equatable {
    public struct Google: Sendable, Equatable {
        public var clientID: String
        public var clientSecret: String?
        public var authorizeURL = "https://accounts.google.com/o/oauth2/v2/auth"
        public var tokenURL = "https://oauth2.googleapis.com/token"
        public var userinfoURL = "https://openidconnect.googleapis.com/v1/userinfo"
        public var tokeninfoURL = "https://oauth2.googleapis.com/tokeninfo"
        public var jwksURL = "https://www.googleapis.com/oauth2/v3/certs"
        public var issuers: Set<String> = ["https://accounts.google.com", "accounts.google.com"]

        public init(clientID: String, clientSecret: String? = nil) {
            self.clientID = clientID
            self.clientSecret = clientSecret
        }
    }

    public struct Facebook: Sendable, Equatable {
        public var appID: String
        public var appSecret: String
        public var dialogURL = "https://www.facebook.com/v19.0/dialog/oauth"
        public var graphURL = "https://graph.facebook.com/v19.0"

        public init(appID: String, appSecret: String) {
            self.appID = appID
            self.appSecret = appSecret
        }
    }

    public struct Apple: Sendable, Equatable {
        /// The services ids and bundle ids whose identity tokens are accepted (`aud`).
        public var clientIDs: Set<String>
        public var jwksURL = "https://appleid.apple.com/auth/keys"
        public var issuer = "https://appleid.apple.com"

        public init(clientIDs: Set<String>) {
            self.clientIDs = clientIDs
        }
    }

    /// Flow 3: login through the suite's OIDC vault, one tenant of it.
    public struct Vault: Sendable, Equatable {
        /// The tenant's issuer exactly as its ID tokens say it (`{vault PUBLIC_URL}/tenants/{id}`).
        public var issuer: String
        /// user-identity's client at the vault (the ID tokens' `aud`).
        public var clientID: String
        public var clientSecret: String?
        /// Where the keys and the token endpoint are reached; by default over internal HTTP
        /// at `OIDC_VAULT_URL` when it is set, else under the issuer.
        public var jwksURL: String?
        public var tokenURL: String?

        public init(issuer: String, clientID: String, clientSecret: String? = nil, jwksURL: String? = nil, tokenURL: String? = nil) {
            self.issuer = issuer
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.jwksURL = jwksURL
            self.tokenURL = tokenURL
        }

        /// The JWKS and token URLs, given the vault's internal base URL (if any).
        func endpoints(internalBase: String?) -> (jwks: String, token: String) {
            let tenantPath = issuer.range(of: "/tenants/").map { String(issuer[$0.lowerBound...]) }
            let base = internalBase.flatMap { base in tenantPath.map { base + $0 } } ?? issuer
            return (jwksURL ?? base + "/.well-known/jwks.json", tokenURL ?? base + (tenantPath == nil ? "/token" : "/oauth2/token"))
        }
    }

    public var vault: Vault?
    public var google: Google?
    public var facebook: Facebook?
    public var apple: Apple?
    /// The user endpoints of Erasmusu's and WG-Gesucht's auth services (bearer access token).
    public var erasmusuUserURL: String?
    public var wggUserURL: String?
    /// How long an authorization-code flow's `state` is accepted.
    public var stateTTL = 600

    public init(google: Google? = nil, facebook: Facebook? = nil, apple: Apple? = nil, erasmusuUserURL: String? = nil, wggUserURL: String? = nil) {
        self.google = google
        self.facebook = facebook
        self.apple = apple
        self.erasmusuUserURL = erasmusuUserURL
        self.wggUserURL = wggUserURL
    }

    static func load(_ reader: ConfigReader) throws(ConfigurationError) -> SocialSettings {
        var settings = SocialSettings()
        if let id = try reader.string("UAI_GOOGLE_CLIENT_ID") {
            var google = Google(clientID: id, clientSecret: try reader.string("UAI_GOOGLE_CLIENT_SECRET"))
            google.authorizeURL = try reader.url("UAI_GOOGLE_AUTHORIZE_URL", default: google.authorizeURL) ?? google.authorizeURL
            google.tokenURL = try reader.url("UAI_GOOGLE_TOKEN_URL", default: google.tokenURL) ?? google.tokenURL
            google.userinfoURL = try reader.url("UAI_GOOGLE_USERINFO_URL", default: google.userinfoURL) ?? google.userinfoURL
            google.tokeninfoURL = try reader.url("UAI_GOOGLE_TOKENINFO_URL", default: google.tokeninfoURL) ?? google.tokeninfoURL
            google.jwksURL = try reader.url("UAI_GOOGLE_JWKS_URL", default: google.jwksURL) ?? google.jwksURL
            if let issuer = try reader.string("UAI_GOOGLE_ISSUER") { google.issuers = [issuer] }
            settings.google = google
        }
        if let id = try reader.string("UAI_FACEBOOK_APP_ID") {
            var facebook = Facebook(appID: id, appSecret: try reader.required("UAI_FACEBOOK_APP_SECRET"))
            facebook.dialogURL = try reader.url("UAI_FACEBOOK_DIALOG_URL", default: facebook.dialogURL) ?? facebook.dialogURL
            facebook.graphURL = try reader.url("UAI_FACEBOOK_GRAPH_URL", default: facebook.graphURL) ?? facebook.graphURL
            settings.facebook = facebook
        }
        if let ids = try reader.string("UAI_APPLE_CLIENT_IDS") {
            var apple = Apple(clientIDs: Set(ids.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }))
            apple.jwksURL = try reader.url("UAI_APPLE_JWKS_URL", default: apple.jwksURL) ?? apple.jwksURL
            apple.issuer = try reader.string("UAI_APPLE_ISSUER", default: apple.issuer)
            settings.apple = apple
        }
        if let issuer = try reader.url("UAI_VAULT_ISSUER") {
            settings.vault = Vault(
                issuer: issuer, clientID: try reader.required("UAI_VAULT_CLIENT_ID"), clientSecret: try reader.string("UAI_VAULT_CLIENT_SECRET"),
                jwksURL: try reader.url("UAI_VAULT_JWKS_URL"), tokenURL: try reader.url("UAI_VAULT_TOKEN_URL"))
        }
        settings.erasmusuUserURL = try reader.url("UAI_ERASMUSU_USER_URL")
        settings.wggUserURL = try reader.url("UAI_WGG_USER_URL")
        return settings
    }

    var summary: String {
        let on = [
            vault.map { _ in "vault" }, google.map { _ in "google" }, facebook.map { _ in "facebook" }, apple.map { _ in "apple" }, erasmusuUserURL.map { _ in "erasmusu" },
            wggUserURL.map { _ in "wgg" },
        ].compactMap { $0 }
        return on.isEmpty ? "none" : on.joined(separator: ", ")
    }
}

/// Who a provider says the caller is.
struct SocialIdentity: Sendable {
    let provider: String
    let subject: String
    let email: String?
    /// Only a verified address may link to an existing account.
    let emailVerified: Bool
    let name: String?
    /// The account this identity already belongs to here (the vault's `external_id`, which
    /// provisioning from User&Identity sets to the user's id).
    var accountID: UUID? = nil
}
