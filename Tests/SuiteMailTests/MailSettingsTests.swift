import Foundation
import SuiteCore
import Testing

@testable import SuiteMail

@Suite struct MailSettingsTests {
    @Test func filesByDefault() throws {
        let settings = try MailSettings.load(ConfigReader([:]))
        guard case .file(let directory) = settings.transport else { Issue.record("not file"); return }
        #expect(directory == "mail")
        #expect(settings.from == "no-reply@localhost")
    }

    @Test func smtpWithItsPortsByTLSMode() throws {
        let starttls = try MailSettings.load(ConfigReader(["MAIL_TRANSPORT": "smtp", "SMTP_HOST": "mail.example.org", "MAIL_FROM": "suite@example.org"]))
        guard case .smtp(let configuration) = starttls.transport else { Issue.record("not smtp"); return }
        #expect(configuration.port == 587)
        #expect(configuration.security == .starttls)
        let implicit = try MailSettings.load(ConfigReader(["MAIL_TRANSPORT": "smtp", "SMTP_HOST": "h.example.org", "SMTP_TLS": "tls"]))
        guard case .smtp(let tls) = implicit.transport else { Issue.record("not smtp"); return }
        #expect(tls.port == 465)
    }

    @Test func aPrivateCAIsReadFromAFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID()).pem").path
        try "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let settings = try MailSettings.load(ConfigReader(["MAIL_TRANSPORT": "smtp", "SMTP_HOST": "h.example.org", "SMTP_CA_FILE": path]))
        guard case .smtp(let configuration) = settings.transport else { Issue.record("not smtp"); return }
        #expect(configuration.trustRootsPEM?.hasPrefix("-----BEGIN CERTIFICATE-----") == true)
    }

    @Test func theSummaryNeverShowsThePassword() throws {
        let settings = try MailSettings.load(ConfigReader([
            "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "h.example.org", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "hunter2",
        ]))
        #expect(!settings.summary.contains("hunter2"))
        #expect(settings.summary.contains("as u"))
    }

    @Test(arguments: [
        (["MAIL_TRANSPORT": "pigeon"], "MAIL_TRANSPORT"),
        (["MAIL_TRANSPORT": "smtp"], "SMTP_HOST"),
        (["MAIL_TRANSPORT": "smtp", "SMTP_HOST": "h", "SMTP_TLS": "maybe"], "SMTP_TLS"),
        (["MAIL_TRANSPORT": "smtp", "SMTP_HOST": "h", "SMTP_USERNAME": "u"], "SMTP_PASSWORD"),
        (["MAIL_TRANSPORT": "smtp", "SMTP_HOST": "h", "SMTP_PORT": "0"], "SMTP_PORT"),
        (["MAIL_FROM": "not an address"], "MAIL_FROM"),
    ])
    func wrongSettingsAreNamed(environment: [String: String], variable: String) {
        let error = #expect(throws: ConfigurationError.self) { try MailSettings.load(ConfigReader(environment)) }
        #expect(error?.variable == variable)
    }
}
