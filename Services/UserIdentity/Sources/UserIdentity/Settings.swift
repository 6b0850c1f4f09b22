import Crypto
import Foundation
import SuiteCore
import SuiteMail
import SuiteSigning

/// User&Identity's own settings (`UAI_*`, the mail settings and `TEMPLATES_DIR`), read
/// and checked once at start.
public struct UserIdentitySettings: Sendable {
    public var tokens: TokenSettings
    /// bcrypt's cost (log2 rounds): 12 by default, 4…16 accepted (tests use 4).
    public var bcryptCost: Int
    /// Roles a visitor may ask for at `POST /signup`. Anything else is refused: a public
    /// endpoint must never hand out `uai_admin`.
    public var signupRoles: Set<String>
    /// Email domains that may not take a role at sign-up (`tenant` → `example.com`), as
    /// the seed's `emailDomainNotAllowed` ("The email … cannot be a tenant!").
    public var disallowedSignupDomains: [String: Set<String>]
    /// Hosts that `callback_url`s may point at (`UAI_CALLBACK_HOSTS`). Empty means the
    /// host of `PUBLIC_URL` only (and the loopback names when it is local): never any host,
    /// or anyone could have a reset link mailed to point elsewhere.
    public var callbackHosts: Set<String>
    public var activationTTL: Int
    public var invitationTTL: Int
    public var passwordResetTTL: Int
    public var emailChangeTTL: Int
    public var mail: MailSettings
    public var templates: MailTemplates
    public var documents: DocumentSettings
    public var phones: PhoneVerificationSettings
    public var social: SocialSettings
    /// Flow 4: the vault tenant every account is provisioned to (`UAI_VAULT_PROVISION_TENANT`;
    /// the vault is the `OIDC_VAULT_URL` peer). Nil: no relay.
    public var vaultProvisionTenant: String?

    public init(
        tokens: TokenSettings, bcryptCost: Int = 12, signupRoles: Set<String> = ["tenant", "landlord"],
        disallowedSignupDomains: [String: Set<String>] = [:], callbackHosts: Set<String> = [],
        activationTTL: Int = 7 * 86_400, invitationTTL: Int = 14 * 86_400, passwordResetTTL: Int = 3_600,
        emailChangeTTL: Int = 86_400, mail: MailSettings, templates: MailTemplates, documents: DocumentSettings = DocumentSettings(),
        phones: PhoneVerificationSettings = PhoneVerificationSettings(), social: SocialSettings = SocialSettings(),
        vaultProvisionTenant: String? = nil
    ) {
        self.tokens = tokens
        self.bcryptCost = bcryptCost
        self.signupRoles = signupRoles
        self.disallowedSignupDomains = disallowedSignupDomains
        self.callbackHosts = callbackHosts
        self.activationTTL = activationTTL
        self.invitationTTL = invitationTTL
        self.passwordResetTTL = passwordResetTTL
        self.emailChangeTTL = emailChangeTTL
        self.mail = mail
        self.templates = templates
        self.documents = documents
        self.phones = phones
        self.social = social
        self.vaultProvisionTenant = vaultProvisionTenant
    }

    static func load(_ reader: ConfigReader) throws(ConfigurationError) -> UserIdentitySettings {
        func list(_ name: String, default value: String) throws(ConfigurationError) -> Set<String> {
            Set(try reader.string(name, default: value).split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        var disallowed: [String: Set<String>] = [:]
        // UAI_SIGNUP_DISALLOWED_DOMAINS=tenant:example.com|example.org,landlord:example.net
        for entry in try list("UAI_SIGNUP_DISALLOWED_DOMAINS", default: "") {
            let parts = entry.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[1].isEmpty else {
                throw ConfigurationError("UAI_SIGNUP_DISALLOWED_DOMAINS", "entry \"\(entry)\" must be role:domain|domain")
            }
            disallowed[String(parts[0]), default: []].formUnion(parts[1].split(separator: "|").map { $0.lowercased() })
        }
        let signupRoles = try list("UAI_SIGNUP_ROLES", default: "tenant,landlord")
        if let privileged = signupRoles.first(where: { $0.hasPrefix("uai_") }) {
            throw ConfigurationError("UAI_SIGNUP_ROLES", "must not offer \(privileged) to anonymous sign-ups")
        }
        return UserIdentitySettings(
            tokens: try TokenSettings.load(reader),
            bcryptCost: try reader.int("UAI_BCRYPT_COST", default: 12, range: 4...16),
            signupRoles: signupRoles,
            disallowedSignupDomains: disallowed,
            callbackHosts: Set(try list("UAI_CALLBACK_HOSTS", default: "").map { $0.lowercased() }),
            activationTTL: try reader.int("UAI_ACTIVATION_TTL_SECONDS", default: 7 * 86_400, range: 60...(90 * 86_400)),
            invitationTTL: try reader.int("UAI_INVITATION_TTL_SECONDS", default: 14 * 86_400, range: 60...(90 * 86_400)),
            passwordResetTTL: try reader.int("UAI_PASSWORD_RESET_TTL_SECONDS", default: 3_600, range: 60...(7 * 86_400)),
            emailChangeTTL: try reader.int("UAI_EMAIL_CHANGE_TTL_SECONDS", default: 86_400, range: 60...(30 * 86_400)),
            mail: try MailSettings.load(reader),
            templates: try MailTemplates(builtIn: BuiltInTemplates.all, directory: try reader.string("TEMPLATES_DIR")),
            documents: try DocumentSettings.load(reader),
            phones: try PhoneVerificationSettings.load(reader),
            social: try SocialSettings.load(reader),
            vaultProvisionTenant: try reader.string("UAI_VAULT_PROVISION_TENANT"))
    }
}

/// How access and refresh tokens are signed and how long they live.
public struct TokenSettings: Sendable {
    public enum Key: Sendable {
        /// The default: verifiable by anyone with `/.well-known/jwks.json`.
        case eddsa(Ed25519SigningKey)
        /// The seed's algorithm, for clients that share the secret.
        case hs512(SymmetricKey)
    }

    public var key: Key
    public var issuer: String
    public var accessTTL: Int
    public var refreshTTL: Int

    public init(key: Key, issuer: String = "user-identity", accessTTL: Int = 900, refreshTTL: Int = 30 * 86_400) {
        self.key = key
        self.issuer = issuer
        self.accessTTL = accessTTL
        self.refreshTTL = refreshTTL
    }

    /// Written in any case (`EdDSA`, `eddsa`).
    enum Algorithm: String, CaseIterable {
        case eddsa, hs512
    }

    static func load(_ reader: ConfigReader) throws(ConfigurationError) -> TokenSettings {
        let key: Key
        switch try reader.choice("UAI_JWT_ALGORITHM", default: Algorithm.eddsa) {
        case .eddsa:
            // Without a key of its own, user tokens share the service key; a separate
            // key lets an operator rotate one without the other.
            if let text = try reader.string("UAI_JWT_SIGNING_KEY") {
                key = .eddsa(try Ed25519SigningKey.parse(text, variable: "UAI_JWT_SIGNING_KEY"))
            } else {
                key = .eddsa(try Ed25519SigningKey.parse(reader.required("SERVICE_SIGNING_KEY"), variable: "SERVICE_SIGNING_KEY"))
            }
        case .hs512:
            let secret = try reader.required("UAI_JWT_SIGNING_KEY")
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError("UAI_JWT_SIGNING_KEY", "an HS512 secret must be at least 32 bytes (64 recommended)")
            }
            key = .hs512(SymmetricKey(data: Array(secret.utf8)))
        }
        let access = try reader.int("UAI_ACCESS_TTL_SECONDS", default: 900, range: 30...86_400)
        let refresh = try reader.int("UAI_REFRESH_TTL_SECONDS", default: 30 * 86_400, range: 60...(365 * 86_400))
        guard refresh > access else {
            throw ConfigurationError("UAI_REFRESH_TTL_SECONDS", "must be longer than UAI_ACCESS_TTL_SECONDS")
        }
        return TokenSettings(
            key: key, issuer: try reader.string("UAI_JWT_ISSUER", default: "user-identity"), accessTTL: access, refreshTTL: refresh)
    }
}
