public import SuiteCore

/// Where mail goes, from the environment (ARCHITECTURE.md, "Configuration"):
/// `MAIL_TRANSPORT` (`file`, the default, or `smtp`), `MAIL_FROM`, `MAIL_DIR` for files;
/// `SMTP_HOST`, `SMTP_PORT`, `SMTP_TLS` (`none`, `starttls`, `tls`), `SMTP_USERNAME`,
/// `SMTP_PASSWORD` (or `SMTP_PASSWORD_FILE`) for SMTP, and `SMTP_CA_FILE` for a private CA.
public struct MailSettings: Sendable {
    public enum Transport: Sendable {
        case file(directory: String)
        case smtp(SMTPConfiguration)
    }

    public enum Kind: String, Sendable, CaseIterable {
        case file, smtp
    }

    public var from: String
    public var transport: Transport

    public init(from: String, transport: Transport) {
        self.from = from
        self.transport = transport
    }

    public static func load(_ reader: ConfigReader) throws(ConfigurationError) -> MailSettings {
        let from = try reader.string("MAIL_FROM", default: "no-reply@localhost")
        guard Validate.isEmail(from) || from.hasSuffix("@localhost") else {
            throw ConfigurationError("MAIL_FROM", "must be an email address (got \"\(from)\")")
        }
        switch try reader.choice("MAIL_TRANSPORT", default: Kind.file) {
        case .file:
            return MailSettings(from: from, transport: .file(directory: try reader.string("MAIL_DIR", default: "mail")))
        case .smtp:
            let security = try reader.choice("SMTP_TLS", default: SMTPSecurity.starttls)
            let defaultPort = switch security {
            case .none: 25
            case .starttls: 587
            case .tls: 465
            }
            let username = try reader.string("SMTP_USERNAME")
            let password = try reader.string("SMTP_PASSWORD")
            if (username == nil) != (password == nil) {
                throw ConfigurationError(username == nil ? "SMTP_USERNAME" : "SMTP_PASSWORD", "is needed with the other one")
            }
            return MailSettings(
                from: from,
                transport: .smtp(SMTPConfiguration(
                    host: try reader.required("SMTP_HOST"), port: try reader.int("SMTP_PORT", default: defaultPort, range: 1...65535),
                    security: security, username: username, password: password,
                    heloName: try reader.string("SMTP_HELO_NAME", default: "localhost"),
                    trustRootsPEM: try reader.string("SMTP_CA"))))
        }
    }

    /// The transport these settings describe.
    public func makeTransport() -> any MailTransport {
        switch transport {
        case .file(let directory): FileMailTransport(directory: directory)
        case .smtp(let configuration): SMTPTransport(configuration: configuration)
        }
    }

    /// For the start-up line: where mail goes, without the password.
    public var summary: String {
        switch transport {
        case .file(let directory): "file \(directory) from \(from)"
        case .smtp(let smtp):
            "smtp \(smtp.host):\(smtp.port) \(smtp.security.rawValue)\(smtp.username.map { " as \($0)" } ?? "") from \(from)"
        }
    }
}
