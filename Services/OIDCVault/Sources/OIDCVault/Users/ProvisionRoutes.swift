import Foundation
import Hummingbird
import SuiteContracts
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// Flow 4: user-identity keeps the vault's copy of each account up to date, with a
/// service token (`vault-users:provision`). The vault user's id and `external_id` are
/// the user-identity id, so a login here names the account there (flow 3). The vault's
/// own `admin` role is never provisioned: it is granted at the vault.
struct ProvisionRoutes: Sendable {
    let vault: Vault
    let verifier: ServiceTokenVerifier

    func add(to router: Router<VaultContext>) {
        router.group("/internal/tenants")
            .add(middleware: ServiceTokenMiddleware<VaultContext>(verifier: verifier, scope: ProvisionVaultUser.scope.rawValue))
            .put(":tenant_id/provisioned-users/:external_id") { request, context -> Response in
                let body = try await request.decodeJSON(as: ProvisionVaultUser.Body.self, context: context)
                let tenantID = try context.parameters.require("tenant_id")
                let externalID = try context.parameters.require("external_id")
                guard let tenant = try await vault.tenants.find(tenantID) else { throw AppError.notFound("No tenant \(tenantID).") }
                guard (1...128).contains(externalID.utf8.count), (1...128).contains(body.username.utf8.count),
                    body.username.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.@-".contains($0)) }), Validate.isEmail(body.email),
                    body.roles.count <= 50, body.roles.allSatisfy({ (1...64).contains($0.utf8.count) })
                else { throw AppError(status: .badRequest, code: "bad_request", detail: "The account is not one the vault can hold (username, email or roles).") }
                let user = VaultUser(
                    tenant: tenantID, id: externalID, username: body.username, email: body.email.lowercased(), isDisabled: body.disabled,
                    isVerified: body.emailVerified, locale: body.locale, roles: body.roles.filter { $0 != "admin" }, externalID: externalID,
                    createdAt: Date(), updatedAt: Date())
                switch try await vault.users.provision(user, emailUnique: tenant.hasUsernameAndEmail) {
                case .created: return try Response.json(ProvisionVaultUser.Provisioned(userID: externalID, created: true), status: .created)
                case .updated: return try Response.json(ProvisionVaultUser.Provisioned(userID: externalID, created: false))
                case .taken: throw AppError.conflict("Another user of \(tenantID) has this username or email.")
                }
            }
    }
}
