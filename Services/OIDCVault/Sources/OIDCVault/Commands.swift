public import ArgumentParser
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import SuiteCore
import SuiteHTTP
import SuiteSigning
import VaultZKP

/// `oidc-vault keys generate|public|rotate`: the suite's service key commands, and the
/// rotation of the vault's OIDC keys.
public struct VaultKeysCommand: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "keys", abstract: "Make the service key, or rotate the OIDC signing and encryption keys.",
            subcommands: [KeysCommand<OIDCVaultService>.Generate.self, KeysCommand<OIDCVaultService>.Public.self, Rotate.self])
    }

    public init() {}

    public struct Rotate: AsyncParsableCommand {
        public static var configuration: CommandConfiguration {
            CommandConfiguration(abstract: "New EdDSA, RS256 and X25519 keys; the old ones stay published for a day.")
        }

        public init() {}

        public func run() async throws {
            let kids = try await OIDCVaultService.withMigratedDatabase { database, _, settings, logger in
                try await KeyRing(database: database, logger: logger, atRestKey: settings.atRestKey).rotate()
            }
            for kid in kids { print(kid) }
        }
    }
}

/// `oidc-vault client enroll|login --image FILE`: the reference client of the
/// zero-knowledge login, against a running vault.
public struct ClientCommand: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "client", abstract: "Enrol or log in with an image (binary PGM/PPM), as a device would.",
            subcommands: [Enroll.self, Login.self])
    }

    public init() {}

    struct Common: ParsableArguments {
        @Option(help: "The vault's public URL.") var url: String = "http://localhost:8080/vault"
        @Option(help: "The tenant.") var tenant: String = "default"
        @Option(help: "The username.") var username: String
        @Option(help: "A binary PGM or PPM image.") var image: String

        func readImage() throws -> GrayImage {
            guard let data = FileManager.default.contents(atPath: image) else { throw ValidationError("cannot read \(image)") }
            return try GrayImage.read(netpbm: Array(data))
        }
    }

    public struct Enroll: AsyncParsableCommand {
        @OptionGroup var common: Common
        @Option(help: "The email of the new account.") var email: String
        @Flag(help: "Print the commitment (unsealed JSON) instead of registering: for sealing it with another JOSE library.")
        var printCommitment = false

        public init() {}

        public func run() async throws {
            let image = try common.readImage()
            if printCommitment {
                print(CanonicalJSON.string(ZKPClient(tenant: common.tenant, username: common.username).commitment(image: image).json))
                return
            }
            let jwks = try await call(.GET, common.url + "/tenants/\(common.tenant)/.well-known/jwks.json", body: nil)
            guard let key = jwks["keys"]?.arrayValue?.first(where: { $0["use"] == "enc" }), let x = key["x"]?.stringValue,
                let raw = Base64URL.decode(x)
            else { throw ValidationError("the vault publishes no encryption key") }
            let sealed = try ZKPClient(tenant: common.tenant, username: common.username).enroll(
                image: image, encryptionKey: try Curve25519.KeyAgreement.PublicKey(rawRepresentation: raw), kid: key["kid"]?.stringValue)
            _ = try await call(.POST, common.url + "/auth/register?tenant_id=\(common.tenant)", body: [
                "username": .string(common.username), "email": .string(email), "encrypted_commitment": .string(sealed),
                "proto_version": .string(ZKP.protoVersion),
            ])
            print("enrolled \(common.username)")
        }
    }

    public struct Login: AsyncParsableCommand {
        @OptionGroup var common: Common
        @Option(help: "The authorization request from /authorize, if any.") var authReqId: String?
        @Option(help: "The client of that request (part of the signed transcript).") var clientId: String = ""

        public init() {}

        public func run() async throws {
            let image = try common.readImage()
            let query = authReqId.map { "auth_req_id=\($0)" } ?? "tenant_id=\(common.tenant)"
            let (key, cipherKey) = ZKPClient.loginKey()
            let challenge = try await call(.POST, common.url + "/auth/challenge?\(query)", body: [
                "username": .string(common.username), "cipherKey": .string(cipherKey),
            ])
            let answer = try ZKPClient(tenant: common.tenant, username: common.username).answer(
                challenge: challenge["challenge_data"]?.stringValue ?? "", loginKey: key, image: image, client: clientId)
            let result = try await call(.POST, common.url + "/auth/authenticate?\(query)", body: [
                "username": .string(common.username), "cipherKey": .string(cipherKey), "challenge_id": .string(answer.challengeID),
                "challenge_data": .string(answer.challengeData), "ber": answer.ber,
            ])
            print(CanonicalJSON.string(result))
        }
    }
}

private func call(_ method: HTTPMethod, _ url: String, body: JSONValue?) async throws -> JSONValue {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let body {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: CanonicalJSON.bytes(body)))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let bytes = try await response.body.collect(upTo: 1 << 20)
    let text = String(buffer: bytes)
    guard (200..<300).contains(response.status.code) else { throw ValidationError("\(url): \(response.status.code) \(text)") }
    return (try? JSONParser.parse(Array(text.utf8))) ?? .null
}
