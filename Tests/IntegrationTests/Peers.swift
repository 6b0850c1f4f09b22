import Foundation
import OIDCVault
import SuiteCore
import SuiteHTTP
import SuitePostgres
import SuiteSigning
import SuiteTesting

/// Services of the suite on loopback, each on a free port, one database with a schema
/// each, every one trusting the others' keys and knowing their URLs, as a deployment
/// wires them.
struct Peers: Sendable {
    let urls: [String: String]
    let base: DatabaseConfiguration

    static func make(_ names: [String]) async throws -> Peers {
        var urls: [String: String] = [:]
        for name in names { urls[name] = "http://127.0.0.1:\(try FreePort.next())" }
        return Peers(urls: urls, base: try await TestPostgres.shared.makeDatabase(schema: "public", poolSize: 4))
    }

    func url(_ name: String) -> String { urls[name] ?? "" }

    func configuration(_ name: String, schema: String) -> ServiceConfiguration {
        var database = base
        database.schema = schema
        var trusted: [String: ServiceTrust.KeySource] = [:]
        for (peer, url) in urls where peer != name { trusted[peer] = .jwks(url: url + "/internal/jwks.json") }
        let port = Int(url(name).split(separator: ":").last ?? "") ?? 0
        return .forTesting(service: name, port: port, database: database, trust: ServiceTrust(issuers: trusted), peers: urls.filter { $0.key != name })
    }

    /// The vault, with the operator's key and mail to `mail`, optionally under another
    /// public address than the one peers reach it at.
    func vault(operatorKey: String, mail: String, publicURL: String? = nil) async throws -> BuiltService<OIDCVaultService> {
        var wiring = configuration("oidc-vault", schema: "vault")
        if let publicURL { wiring.publicURL = publicURL }
        return try await SuiteApplication.build(
            OIDCVaultService.self, configuration: wiring,
            settings: try OIDCVaultService.loadSettings(ConfigReader([
                "SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64, "VAULT_ADMIN_API_KEY": operatorKey,
                "VAULT_LOGIN_UI_URL": "https://login.example.com/", "MAIL_DIR": mail,
            ])))
    }
}
