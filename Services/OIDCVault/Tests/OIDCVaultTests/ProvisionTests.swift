import Foundation
import SuiteCore
import SuiteHTTP
import SuiteSigning
import SuiteTesting
import Testing

@testable import OIDCVault

/// Flow 4's vault side: only user-identity's service token with `vault-users:provision`
/// writes a provisioned user, the same state twice is one user, and what the vault
/// cannot hold is refused whole.
@Suite struct ProvisionTests {
    @Test func onlyUserIdentitysTokenProvisionsAndTheSameStateTwiceIsOneUser() async throws {
        let peer = Ed25519SigningKey.generate()
        try await VaultFixture.run(trust: ServiceTrust(issuers: ["user-identity": .keys([peer.kid: peer.publicKey])])) { vault in
            try await vault.tenant("acme")
            let signer = await ServiceTokenSigner(issuer: "user-identity", signingKey: peer)
            let now = Int(Date().timeIntervalSince1970)
            let token = try await signer.mint(audience: "oidc-vault", scope: "vault-users:provision", issuedAt: now, lifetime: 60)
            let wrongScope = try await signer.mint(audience: "oidc-vault", scope: "users:read", issuedAt: now, lifetime: 60)
            let id = UUID().uuidString.lowercased()
            let path = vault.base + "/internal/tenants/acme/provisioned-users/\(id)"
            let body: JSONValue = [
                "username": "ann@example.org", "email": "ann@example.org", "emailVerified": true, "disabled": false,
                "roles": ["tenant", "admin"], "locale": "es",
            ]

            #expect(try await vault.service.send(.PUT, path, json: body).status == 401)
            #expect(try await vault.service.send(.PUT, path, json: body, token: wrongScope).status == 403)
            // The operator's API key is not a service token.
            #expect(try await vault.call(.PUT, "/internal/tenants/acme/provisioned-users/\(id)", json: body).status == 401)

            let created = try await vault.service.send(.PUT, path, json: body, token: token)
            #expect(created.status == 201 && created.json?["created"] == true, "\(created.text)")
            let again = try await vault.service.send(.PUT, path, json: body, token: token)
            #expect(again.status == 200 && again.json?["created"] == false)
            let user = try await vault.call(.GET, "/tenants/acme/users/\(id)")
            #expect(user.json?["external_id"] == .string(id) && user.json?["roles"] == ["tenant"], "the vault's admin role is never provisioned")
            #expect(try await vault.call(.GET, "/tenants/acme/users?limit=50").json?["total_count"] == 1)

            // Disabled there, disabled here.
            guard case .object(var disabled) = body else { return }
            disabled["disabled"] = true
            #expect(try await vault.service.send(.PUT, path, json: .object(disabled), token: token).status == 200)
            #expect(try await vault.call(.GET, "/tenants/acme/users/\(id)").json?["is_disabled"] == true)

            // What the vault cannot hold, another user's name, and an unknown tenant.
            var bad = disabled
            bad["username"] = "has space"
            #expect(try await vault.service.send(.PUT, path, json: .object(bad), token: token).status == 400)
            let other = vault.base + "/internal/tenants/acme/provisioned-users/\(UUID().uuidString.lowercased())"
            #expect(try await vault.service.send(.PUT, other, json: body, token: token).status == 409)
            #expect(try await vault.service.send(
                .PUT, vault.base + "/internal/tenants/nope/provisioned-users/\(id)", json: body, token: token).status == 404)
        }
    }
}
