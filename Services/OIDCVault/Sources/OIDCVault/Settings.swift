public import Crypto
import Foundation
import SuiteCore
public import SuiteMail
public import SuiteSigning

/// The vault's own settings (`VAULT_*`), read and checked once at start.
public struct VaultSettings: Sendable {
    /// The tenant the root routes (`/authorize`, `/.well-known/…`) serve; created at start.
    public var defaultTenant: String
    /// Where `/authorize` sends the browser to log in; `{PUBLIC_URL}/login` unless set.
    public var loginUIURL: String?
    /// SHA-256 of the operator's bootstrap API key (`VAULT_ADMIN_API_KEY`): every scope
    /// on every tenant. Never kept in clear.
    public var adminKeyHash: [UInt8]?
    /// Seals private keys and helper data at rest (`VAULT_ENCRYPTION_KEY`, 32 bytes).
    public var atRestKey: SymmetricKey
    /// Ed25519 keys to publish and sign with, imported at start (`VAULT_SIGNING_KEYS`).
    public var importedSigningKeys: [Ed25519SigningKey]
    public var accessTokenTTL: Int
    public var idTokenTTL: Int
    public var refreshTokenTTL: Int
    /// How long a rotated refresh token still answers with its successor, for clients
    /// that refresh twice at once (0: never; reuse then revokes the family).
    public var refreshReuseGrace: Int
    public var sessionTTL: Int
    /// A client-reported bit error rate (percent) above which authenticate asks for a
    /// second factor (`need_verify`).
    public var berSoftLimitPercent: Double
    /// bcrypt cost of the step-up PINs and patterns (`VAULT_BCRYPT_COST`).
    public var bcryptCost: Int
    public var mail: MailSettings

    public init(
        defaultTenant: String = "default", loginUIURL: String? = nil, adminAPIKey: String? = nil,
        atRestKey: SymmetricKey = SymmetricKey(size: .bits256), importedSigningKeys: [Ed25519SigningKey] = [],
        accessTokenTTL: Int = 900, idTokenTTL: Int = 3600, refreshTokenTTL: Int = 30 * 86_400, refreshReuseGrace: Int = 10,
        sessionTTL: Int = 30 * 86_400, berSoftLimitPercent: Double = 10, bcryptCost: Int = 10, mail: MailSettings = MailSettings(from: "vault@localhost", transport: .file(directory: "/tmp/oidc-vault-mail"))
    ) {
        self.defaultTenant = defaultTenant
        self.loginUIURL = loginUIURL
        self.adminKeyHash = adminAPIKey.map { sha256($0) }
        self.atRestKey = atRestKey
        self.importedSigningKeys = importedSigningKeys
        self.accessTokenTTL = accessTokenTTL
        self.idTokenTTL = idTokenTTL
        self.refreshTokenTTL = refreshTokenTTL
        self.refreshReuseGrace = refreshReuseGrace
        self.sessionTTL = sessionTTL
        self.berSoftLimitPercent = berSoftLimitPercent
        self.bcryptCost = bcryptCost
        self.mail = mail
    }

    static func load(_ reader: ConfigReader) throws(ConfigurationError) -> VaultSettings {
        let atRestKey: SymmetricKey
        if let text = try reader.string("VAULT_ENCRYPTION_KEY") {
            guard let bytes = Base64URL.decode(text), bytes.count == 32 else {
                throw ConfigurationError("VAULT_ENCRYPTION_KEY", "must be 32 bytes, base64 (`openssl rand -base64 32`)")
            }
            atRestKey = SymmetricKey(data: bytes)
        } else {
            // Development: derived from the service key, so `make run` needs nothing more.
            let seed = try Ed25519SigningKey.parse(reader.required("SERVICE_SIGNING_KEY"), variable: "SERVICE_SIGNING_KEY")
            atRestKey = HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: seed.key.rawRepresentation), info: Array("oidc-vault at-rest key".utf8),
                outputByteCount: 32)
        }
        var imported: [Ed25519SigningKey] = []
        if let list = try reader.string("VAULT_SIGNING_KEYS") {
            for entry in list.split(separator: ",") {
                imported.append(try Ed25519SigningKey.parse(String(entry), variable: "VAULT_SIGNING_KEYS"))
            }
        }
        let adminKey = try reader.string("VAULT_ADMIN_API_KEY")
        if let adminKey, adminKey.utf8.count < 24 {
            throw ConfigurationError("VAULT_ADMIN_API_KEY", "must be at least 24 characters")
        }
        let tenant = try reader.string("VAULT_DEFAULT_TENANT", default: "default")
        guard Tenant.isValidID(tenant) else {
            throw ConfigurationError("VAULT_DEFAULT_TENANT", "must be 1-64 letters, digits, '-', '_' or '.'")
        }
        return VaultSettings(
            defaultTenant: tenant,
            loginUIURL: try reader.url("VAULT_LOGIN_UI_URL"),
            adminAPIKey: adminKey,
            atRestKey: atRestKey,
            importedSigningKeys: imported,
            accessTokenTTL: try reader.int("VAULT_ACCESS_TOKEN_TTL_SECONDS", default: 900, range: 60...86_400),
            idTokenTTL: try reader.int("VAULT_ID_TOKEN_TTL_SECONDS", default: 3600, range: 60...86_400),
            refreshTokenTTL: try reader.int("VAULT_REFRESH_TOKEN_TTL_SECONDS", default: 30 * 86_400, range: 300...(365 * 86_400)),
            refreshReuseGrace: try reader.int("VAULT_REFRESH_REUSE_GRACE_SECONDS", default: 10, range: 0...300),
            sessionTTL: try reader.int("VAULT_SESSION_TTL_SECONDS", default: 30 * 86_400, range: 300...(365 * 86_400)),
            berSoftLimitPercent: Double(try reader.int("VAULT_BER_SOFT_LIMIT_PERCENT", default: 10, range: 0...100)),
            bcryptCost: try reader.int("VAULT_BCRYPT_COST", default: 12, range: 4...16),
            mail: try MailSettings.load(reader))
    }
}
