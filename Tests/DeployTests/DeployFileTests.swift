import Foundation
import Testing

/// Reads the ops files as text and holds them to what ARCHITECTURE.md promises. Their
/// syntax is checked by the real tools in scripts/check-deploy, and the gateway is run
/// for real by scripts/e2e.
@Suite struct DeployFileTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let services = ["meet-rooms", "identity-associations", "user-identity", "oidc-vault"]

    func read(_ path: String) throws -> String {
        try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
    }

    func instructions(_ dockerfile: String) -> [(String, String)] {
        dockerfile.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .compactMap { line in
                let parts = line.split(separator: " ", maxSplits: 1)
                return parts.count == 2 ? (parts[0].uppercased(), String(parts[1])) : nil
            }
    }

    @Test func baseImagesArePinnedByTag() throws {
        let froms = instructions(try read("deploy/Dockerfile")).filter { $0.0 == "FROM" }.map(\.1)
        #expect(froms.count == 2, "a build stage and a slim runtime stage")
        for from in froms {
            let image = String(from.split(separator: " ").first ?? "")
            let tag = image.split(separator: ":").dropFirst().first.map(String.init)
            #expect(tag != nil && tag != "latest", "\(image) must name a tag other than latest")
        }
        #expect(froms.last?.contains("slim") == true)
    }

    @Test func theServiceIsChosenByOneBuildArgument() throws {
        let lines = instructions(try read("deploy/Dockerfile"))
        #expect(lines.filter { $0.0 == "ARG" }.allSatisfy { $0.1 == "SERVICE" })
        #expect(lines.contains { $0.0 == "RUN" && $0.1.contains("--product \"$SERVICE\"") })
    }

    @Test func theRuntimeRunsAsAnUnprivilegedUser() throws {
        let lines = instructions(try read("deploy/Dockerfile"))
        let runtime = lines.split { $0.0 == "FROM" }.last ?? []
        let user = runtime.last { $0.0 == "USER" }?.1
        #expect(user != nil)
        #expect(user?.hasPrefix("0") == false && user?.hasPrefix("root") == false)
        #expect(lines.last { $0.0 == "ENTRYPOINT" } != nil)
    }

    @Test func composeRunsEveryServiceWithItsOwnKeyAndSchema() throws {
        let compose = try read("docker-compose.yml")
        for service in Self.services {
            #expect(compose.contains("\n  \(service):\n"), "\(service) is a compose service")
            #expect(compose.contains("SERVICE: \(service)"), "\(service) image built with its build arg")
            #expect(compose.contains("\(service.replacingOccurrences(of: "-", with: "_"))_key"))
        }
        for schema in ["meet", "identity", "uai", "vault"] { #expect(compose.contains("DATABASE_SCHEMA: \(schema)")) }
        #expect(compose.contains("./deploy/postgres/init.sql:/docker-entrypoint-initdb.d/"))
        #expect(compose.contains("mailpit"))
        #expect(compose.contains("./deploy/nginx/gateway.conf"))
    }

    @Test func kubernetesHasProbesForEveryService() throws {
        for service in Self.services {
            let manifest = try read("deploy/k8s/base/\(service).yaml")
            #expect(manifest.contains("kind: Deployment"))
            #expect(manifest.contains("kind: Service"))
            #expect(manifest.contains("path: /health/ready"))
            #expect(manifest.contains("path: /health/live"))
            #expect(manifest.contains("runAsNonRoot: true"))
        }
        let ingress = try read("deploy/k8s/base/ingress.yaml")
        for prefix in ["/external-api/", "/_matrix/identity/", "/uai", "/vault"] { #expect(ingress.contains("path: \(prefix)")) }
        #expect(ingress.components(separatedBy: "(?!internal(/|$)|metrics(/|$))").count - 1 == 4)
    }

    @Test func theGatewayRoutesEveryPrefixAndHidesInternalRoutes() throws {
        let gateway = try read("deploy/nginx/gateway.conf")
        #expect(gateway.contains("location /external-api/ {\n        proxy_pass http://meet_rooms;"))
        #expect(gateway.contains("location /_matrix/identity/ {\n        proxy_pass http://identity_associations;"))
        #expect(gateway.contains("proxy_pass http://user_identity/;"), "/uai is stripped")
        #expect(gateway.contains("proxy_pass http://oidc_vault/;"), "/vault is stripped")
        #expect(gateway.contains("(internal|metrics)"))
    }

    @Test func initSQLGivesEachServiceItsRoleAndSchema() throws {
        let sql = try read("deploy/postgres/init.sql")
        #expect(sql.contains("('meet'), ('identity'), ('uai'), ('vault')"))
        #expect(sql.contains("CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I"))
    }
}
