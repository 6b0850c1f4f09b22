import Foundation
import SuiteCore
import SuiteSigning

/// Meet's own settings (`MEET_*`), read and checked once at start.
public struct MeetSettings: Sendable {
    public var signingKey: Ed25519SigningKey
    public var issuer: String
    public var audience: String
    public var tokenTTL: Int
    /// Where rooms live in the web app: a room's `url` is this plus `/` plus its slug.
    public var roomBaseURL: String
    public var telephony: Telephony?
    public var pinLength: Int
    public var allowPublicRooms: Bool
    /// La Suite Meet's `APPLICATION_ALLOW_USER_CREATION`: the token endpoint makes a
    /// provisional user at user-identity for an email nobody has, instead of answering
    /// `User not found.` (`MEET_ALLOW_USER_CREATION`, off by default).
    public var allowUserCreation = false
    /// Access tokens of an OpenID Connect provider, accepted on the rooms routes beside
    /// delegation tokens (La Suite Meet's `ResourceServerAuthentication`); nil: off.
    public var resourceServer: ResourceServer?

    /// How provider tokens are checked: RFC 7662 introspection at `introspectionURL`
    /// with this service's own client (`client_secret_basic`), answers kept at most
    /// `cacheSeconds` and never past the token's `exp`.
    public struct ResourceServer: Sendable {
        public var introspectionURL: String
        public var clientID: String
        public var clientSecret: String
        /// Scopes may come as `<prefix>rooms:list` (e.g. `lasuite_meet:`) as well as `rooms:list`.
        public var scopePrefix: String
        public var cacheSeconds: Int

        public init(introspectionURL: String, clientID: String, clientSecret: String, scopePrefix: String = "", cacheSeconds: Int = 30) {
            self.introspectionURL = introspectionURL
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.scopePrefix = scopePrefix
            self.cacheSeconds = cacheSeconds
        }
    }

    public struct Telephony: Sendable {
        public var phoneNumber: String
        public var defaultCountry: String

        public init(phoneNumber: String, defaultCountry: String) {
            self.phoneNumber = phoneNumber
            self.defaultCountry = defaultCountry
        }
    }

    public init(
        signingKey: Ed25519SigningKey, issuer: String = "meet-rooms", audience: String = "meet-external-api", tokenTTL: Int = 3600,
        roomBaseURL: String = "http://localhost:3000", telephony: Telephony? = nil, pinLength: Int = 10, allowPublicRooms: Bool = false
    ) {
        self.signingKey = signingKey
        self.issuer = issuer
        self.audience = audience
        self.tokenTTL = tokenTTL
        self.roomBaseURL = roomBaseURL
        self.telephony = telephony
        self.pinLength = pinLength
        self.allowPublicRooms = allowPublicRooms
    }

    static func load(_ reader: ConfigReader) throws(ConfigurationError) -> MeetSettings {
        let key: Ed25519SigningKey
        if let text = try reader.string("MEET_JWT_SIGNING_KEY") {
            key = try Ed25519SigningKey.parse(text, variable: "MEET_JWT_SIGNING_KEY")
        } else {
            key = try Ed25519SigningKey.parse(reader.required("SERVICE_SIGNING_KEY"), variable: "SERVICE_SIGNING_KEY")
        }
        var telephony: Telephony?
        if try reader.bool("MEET_TELEPHONY_ENABLED", default: false) {
            telephony = Telephony(
                phoneNumber: try reader.required("MEET_TELEPHONY_PHONE_NUMBER"),
                defaultCountry: try reader.string("MEET_TELEPHONY_DEFAULT_COUNTRY", default: "FR"))
        }
        let base = try reader.url("MEET_ROOM_BASE_URL", default: "http://localhost:3000")!
        var settings = MeetSettings(
            signingKey: key,
            issuer: try reader.string("MEET_JWT_ISSUER", default: "meet-rooms"),
            audience: try reader.string("MEET_JWT_AUDIENCE", default: "meet-external-api"),
            tokenTTL: try reader.int("MEET_JWT_TTL_SECONDS", default: 3600, range: 60...86_400),
            roomBaseURL: base.hasSuffix("/") ? String(base.dropLast()) : base,
            telephony: telephony,
            pinLength: try reader.int("MEET_PIN_LENGTH", default: 10, range: 4...16),
            allowPublicRooms: try reader.bool("MEET_ALLOW_PUBLIC_ROOMS", default: false))
        settings.allowUserCreation = try reader.bool("MEET_ALLOW_USER_CREATION", default: false)
        if let clientID = try reader.string("MEET_OIDC_CLIENT_ID") {
            // The suite's own vault by default, over internal HTTP.
            let vault = try reader.url("OIDC_VAULT_URL", default: "http://127.0.0.1:8084") ?? "http://127.0.0.1:8084"
            settings.resourceServer = ResourceServer(
                introspectionURL: try reader.url("MEET_OIDC_INTROSPECTION_URL", default: vault + "/introspect") ?? vault + "/introspect",
                clientID: clientID, clientSecret: try reader.required("MEET_OIDC_CLIENT_SECRET"),
                scopePrefix: try reader.string("MEET_OIDC_SCOPE_PREFIX", default: ""),
                cacheSeconds: try reader.int("MEET_OIDC_CACHE_SECONDS", default: 30, range: 0...300))
        }
        return settings
    }
}
