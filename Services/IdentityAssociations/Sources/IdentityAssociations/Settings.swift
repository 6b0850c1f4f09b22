import Foundation
import SuiteCore
public import SuiteMail
public import SuiteSigning

/// identity-associations' own settings (`IS_*`, mail, templates), read and checked at start.
public struct IdentitySettings: Sendable {
    /// The name signatures are made under (`signatures[serverName]["ed25519:0"]`).
    public var serverName: String
    /// Where clients reach this service from outside (`https://id.example.org`): links in
    /// mail and `key_validity_url`s start with it. Unset, the service's `PUBLIC_URL`
    /// without its `/_matrix/identity` suffix.
    public var publicBaseURL: String?
    /// The long-term Ed25519 key, published as `ed25519:0`.
    public var signingKey: Ed25519SigningKey
    public var enableV1: Bool
    public var enableV2: Bool
    public var terms: TermsPolicy
    public var mail: MailSettings
    /// The room invitations meet-rooms hands over (`room-invite.<locale>.txt`).
    public var templates: MailTemplates
    /// sydent-style per-brand `.eml` and page templates.
    public var brands: BrandTemplates
    public var sms: SMSSettings
    /// Whether the homeserver's certificate is checked when verifying an OpenID token.
    public var homeserverVerifyTLS: Bool
    /// Calls to homeservers go here instead of `https://<server name>` when set (a
    /// single-homeserver deployment, or a test's local fake).
    public var homeserverBaseURL: String?
    /// How long a validation session lives after its last `requestToken`.
    public var sessionLifetimeSeconds: Int
    /// What `web_client_location` is in invite mails.
    public var webClientLocation: String
    /// Lookups answer from an in-memory copy of the associations kept current through
    /// PostgreSQL (`IS_LOOKUP_INDEX=memory`, the default), or ask PostgreSQL every time
    /// (`database`: for very large deployments short of memory).
    public var lookupIndex: Bool

    public init(
        serverName: String = "localhost", publicBaseURL: String? = nil, signingKey: Ed25519SigningKey = .generate(),
        enableV1: Bool = true, enableV2: Bool = true, terms: TermsPolicy = TermsPolicy(), mail: MailSettings,
        templates: MailTemplates, brands: BrandTemplates? = nil, sms: SMSSettings = SMSSettings(), homeserverVerifyTLS: Bool = true,
        homeserverBaseURL: String? = nil, sessionLifetimeSeconds: Int = 86_400, webClientLocation: String = "https://app.element.io",
        lookupIndex: Bool = true
    ) {
        self.serverName = serverName
        self.publicBaseURL = publicBaseURL
        self.signingKey = signingKey
        self.enableV1 = enableV1
        self.enableV2 = enableV2
        self.terms = terms
        self.mail = mail
        self.templates = templates
        // Built-in brand templates always parse.
        self.brands = brands ?? (try! BrandTemplates(defaultBrand: "default"))
        self.sms = sms
        self.homeserverVerifyTLS = homeserverVerifyTLS
        self.homeserverBaseURL = homeserverBaseURL
        self.sessionLifetimeSeconds = sessionLifetimeSeconds
        self.webClientLocation = webClientLocation
        self.lookupIndex = lookupIndex
    }

    static func load(_ reader: ConfigReader) throws(ConfigurationError) -> IdentitySettings {
        let serverName = try reader.string("IS_SERVER_NAME", default: "localhost")
        guard !serverName.isEmpty, serverName.utf8.count <= 255, !serverName.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw ConfigurationError("IS_SERVER_NAME", "must be a host name such as id.example.org")
        }
        let base = try reader.string("IS_PUBLIC_BASE_URL")
        if let base {
            guard let url = URLComponents(string: base), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false else {
                throw ConfigurationError("IS_PUBLIC_BASE_URL", "must be an http(s) URL")
            }
        }
        // The long-term key: sydent's `ed25519 0 <seed>` line works as it is. Without
        // one, the service key signs (set IS_SIGNING_KEY to rotate them apart).
        let key: Ed25519SigningKey
        if let text = try reader.string("IS_SIGNING_KEY") {
            key = try Ed25519SigningKey.parse(text, variable: "IS_SIGNING_KEY")
        } else {
            key = try Ed25519SigningKey.parse(try reader.required("SERVICE_SIGNING_KEY"), variable: "SERVICE_SIGNING_KEY")
        }
        let enableV1 = try reader.bool("IS_ENABLE_V1", default: true)
        let enableV2 = try reader.bool("IS_ENABLE_V2", default: true)
        guard enableV1 || enableV2 else { throw ConfigurationError("IS_ENABLE_V2", "one of IS_ENABLE_V1 and IS_ENABLE_V2 must be on") }
        let templatesDirectory = try reader.string("TEMPLATES_DIR")
        let homeserver = try reader.string("IS_HOMESERVER_BASE_URL")
        if let homeserver, URLComponents(string: homeserver)?.host == nil {
            throw ConfigurationError("IS_HOMESERVER_BASE_URL", "must be an http(s) URL")
        }
        let lookupIndex = try reader.string("IS_LOOKUP_INDEX", default: "memory")
        guard ["memory", "database"].contains(lookupIndex) else {
            throw ConfigurationError("IS_LOOKUP_INDEX", "must be memory or database")
        }
        return IdentitySettings(
            serverName: serverName,
            publicBaseURL: base.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 },
            signingKey: key,
            enableV1: enableV1,
            enableV2: enableV2,
            terms: try reader.string("IS_TERMS_FILE").map { path throws(ConfigurationError) in try TermsPolicy.load(file: path) } ?? TermsPolicy(),
            mail: try MailSettings.load(reader),
            templates: try MailTemplates(builtIn: BuiltInTemplates.all, directory: templatesDirectory),
            brands: try BrandTemplates(
                defaultBrand: try reader.string("IS_DEFAULT_BRAND", default: "default"), directory: templatesDirectory),
            sms: try SMSSettings.load(reader),
            homeserverVerifyTLS: try reader.bool("IS_HOMESERVER_VERIFY_TLS", default: true),
            homeserverBaseURL: homeserver,
            sessionLifetimeSeconds: try reader.int("IS_SESSION_LIFETIME_SECONDS", default: 86_400, range: 300...(30 * 86_400)),
            webClientLocation: try reader.string("IS_WEB_CLIENT_LOCATION", default: "https://app.element.io"),
            lookupIndex: lookupIndex == "memory")
    }

    /// The key id every signature and `pubkey` route uses.
    static let keyID = "ed25519:0"

    var publicKeyBase64: String { Matrix.unpaddedBase64(signingKey.publicKey.rawRepresentation) }
}

enum BuiltInTemplates {
    static let all: [String: String] = [
        "room-invite.en.txt": String(decoding: PackageResources.room_invite_en_txt, as: UTF8.self),
        "room-invite.en.html": String(decoding: PackageResources.room_invite_en_html, as: UTF8.self),
        "room-invite.fr.txt": String(decoding: PackageResources.room_invite_fr_txt, as: UTF8.self),
    ]
}
