import Foundation
import SuiteCore
import SuiteSigning
import Testing

@testable import IdentityAssociations

/// Operators configure the service with `IS_*`; a wrong value stops it with the name.
@Suite struct IdentitySettingsTests {
    static let base = ["SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64]

    func load(_ values: [String: String]) throws(ConfigurationError) -> IdentitySettings {
        try IdentitySettings.load(ConfigReader(Self.base.merging(values) { $1 }))
    }

    @Test func sydentsKeyLineAndServerNameAreTakenAsTheyAre() throws {
        let settings = try load([
            "IS_SIGNING_KEY": "ed25519 0 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", "IS_SERVER_NAME": "matrix.example.org",
            "IS_PUBLIC_BASE_URL": "https://matrix.example.org/", "IS_ENABLE_V1": "false",
        ])
        #expect(settings.serverName == "matrix.example.org")
        #expect(settings.publicBaseURL == "https://matrix.example.org")
        #expect(settings.publicKeyBase64 == Matrix.unpaddedBase64(SignedJSONTests.specKey.publicKey.rawRepresentation))
        #expect(!settings.enableV1 && settings.enableV2)
        #expect(settings.brands.defaultBrand == "default")
    }

    @Test func withoutItsOwnKeyTheServiceKeySigns() throws {
        let settings = try load([:])
        let serviceKey = try Ed25519SigningKey.parse(Self.base["SERVICE_SIGNING_KEY"]!, variable: "SERVICE_SIGNING_KEY")
        #expect(settings.signingKey.publicKey.rawRepresentation == serviceKey.publicKey.rawRepresentation)
    }

    @Test(arguments: [
        ("IS_ENABLE_V1", ["IS_ENABLE_V1": "false", "IS_ENABLE_V2": "false"]),
        ("IS_SERVER_NAME", ["IS_SERVER_NAME": "bad name"]),
        ("IS_PUBLIC_BASE_URL", ["IS_PUBLIC_BASE_URL": "ftp://x"]),
        ("IS_SIGNING_KEY", ["IS_SIGNING_KEY": "ed25519 0 notbase64!"]),
        ("IS_TERMS_FILE", ["IS_TERMS_FILE": "/nonexistent/terms.yaml"]),
        ("IS_DEFAULT_BRAND", ["IS_DEFAULT_BRAND": "nobody"]),
        ("IS_SMS_PROVIDER", ["IS_SMS_PROVIDER": "pigeon"]),
        ("IS_TWILIO_ACCOUNT_SID", ["IS_SMS_PROVIDER": "twilio"]),
        ("IS_SMS_TEMPLATE", ["IS_SMS_TEMPLATE": "no code here"]),
    ])
    func wrongValuesNameTheirVariable(_ expected: String, _ values: [String: String]) {
        do {
            _ = try load(values)
            Issue.record("\(values) was accepted")
        } catch {
            #expect(error.variable.hasPrefix(expected) || (expected == "IS_ENABLE_V1" && error.variable.hasPrefix("IS_ENABLE")), "\(error)")
        }
    }
}
