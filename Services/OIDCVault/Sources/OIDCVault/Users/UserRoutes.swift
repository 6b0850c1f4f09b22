import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP

struct UserRoutes: Sendable {
    let vault: Vault

    enum SortField: String, CaseIterable {
        case createdAt = "created_at", username, email
    }

    func add(to router: Router<VaultContext>) {
        // Who calls is known before any handler runs: an API key or a bearer token.
        let admin = router.administered(by: vault.authenticator)
        admin.get("users/me") { request, context in try await me(request, context) }
        let users = admin.group("tenants/:tenant_id/users")
        users.get { request, context in try await list(request, context) }
        users.post { request, context in try await create(request, context) }
        users.post("batch") { request, context in try await batch(request, context) }
        users.post("batch-delete") { request, context in try await batchDelete(request, context) }
        users.get("by-username/:username") { request, context in try await byUsername(request, context) }
        users.get(":user_id") { request, context in try await read(request, context) }
        users.put(":user_id") { request, context in try await update(request, context) }
        users.put(":user_id/email") { request, context in try await updateEmail(request, context) }
    }

    private func tenant(_ context: VaultContext, _ request: Request, _ scope: AdminScope) async throws -> (Tenant, Principal) {
        let id = try context.parameters.require("tenant_id")
        let principal = try context.principal()
        try principal.require(scope, tenant: id)
        return (try await vault.tenants.require(id), principal)
    }

    static let notFound = VaultError.notFound("User")

    func me(_ request: Request, _ context: VaultContext) async throws -> Response {
        let principal = try context.principal()
        let (tenant, userID) = try principal.requireUser()
        guard let user = try await vault.users.find(tenant: tenant, id: userID) else { throw Self.notFound }
        return .json(user.json)
    }

    func list(_ request: Request, _ context: VaultContext) async throws -> Response {
        var query = try Fields(query: request)
        let username = query.string("username", required: false, max: 128) ?? ""
        let email = query.string("email", required: false, max: 128) ?? ""
        let limit = query.int("limit", range: 1...500) ?? 10
        let offset = query.int("offset", range: 0...10_000_000) ?? 0
        let direction = query.int("sort_direction", range: -1...1) ?? -1
        let sort = query.choice("sort_by", SortField.self) ?? .createdAt
        try query.check()
        let (tenant, _) = try await tenant(context, request, .usersRead)
        // Column and direction come from the enums above, never from the caller's text.
        let order = (sort == .createdAt ? "created_at" : "lower(\(sort.rawValue))") + (direction == -1 ? " DESC" : " ASC")
        let (found, total) = try await vault.users.search(
            tenant: tenant.id, username: username, email: email, order: order, limit: limit, offset: offset)
        let users = found.map(\.json)
        let hasNext = users.count > limit
        return .json(["data": .array(Array(users.prefix(limit))), "has_next": .bool(hasNext), "total_count": .number(Double(total))])
    }


    func create(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, _) = try await tenant(context, request, .usersWrite)
        var fields = Fields(try await request.jsonObject(context: context))
        let read = VaultUser.read(&fields, tenant: tenant.id)
        let user = try fields.checked(read)
        switch try await vault.users.insert(user, emailUnique: tenant.hasUsernameAndEmail) {
        case .created:
            guard let stored = try await vault.users.find(tenant: tenant.id, id: user.id) else { throw Self.notFound }
            return .json(stored.json, status: .created)
        case .usernameTaken: throw VaultError.exists("Username")
        case .idTaken: throw VaultError.exists("User id")
        case .emailTaken: throw VaultError.exists("Email")
        }
    }

    func batch(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, _) = try await tenant(context, request, .usersWrite)
        let body = try await request.jsonObject(context: context)
        guard case .array(let items)? = body["users"] else {
            throw AppError.validation("users", body["users"] == nil ? "Field required" : "Input should be a valid list", type: body["users"] == nil ? "missing" : "list_type")
        }
        guard items.count <= 1000 else { throw AppError.validation("users", "List should have at most 1000 items", type: "too_long") }
        // The whole body is validated first, as the seed's framework does: one malformed
        // entry is a 422 naming it, and nothing is created.
        var users: [VaultUser] = []
        var problems: [JSONValue] = []
        for (index, item) in items.enumerated() {
            var fields = Fields(item.objectValue ?? [:])
            if item.objectValue == nil { fields.problem("users", "Input should be a valid dictionary", type: "dict_type") }
            let user = VaultUser.read(&fields, tenant: tenant.id)
            for problem in fields.problems {
                let field = problem["loc"]?.arrayValue?.last ?? "users"
                problems.append(["loc": ["body", "users", .number(Double(index)), field], "msg": problem["msg"] ?? "", "type": problem["type"] ?? ""])
            }
            if let user, fields.problems.isEmpty { users.append(user) }
        }
        guard problems.isEmpty else { throw AppError.validation(problems) }
        var created = 0
        var failed: [String] = []
        var duplicates: [String] = []
        var seen = Set<String>()
        // One statement per user: a user is created whole or not at all, and one taken
        // email does not undo the others.
        for user in users {
            guard seen.insert(user.username.lowercased()).inserted else {
                duplicates.append(user.username)
                continue
            }
            switch try await vault.users.insert(user, emailUnique: tenant.hasUsernameAndEmail) {
            case .created: created += 1
            case .usernameTaken: duplicates.append(user.username)
            case .emailTaken, .idTaken: failed.append(user.username)
            }
        }
        return .json(
            [
                "success_created_count": .number(Double(created)), "fail_create_usernames": .array(failed.map { .string($0) }),
                "duplicate_usernames": .array(duplicates.map { .string($0) }),
            ], status: .created)
    }

    func batchDelete(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, _) = try await tenant(context, request, .usersWrite)
        var fields = Fields(try await request.jsonObject(context: context))
        let idsField = fields.strings("users_ids", maxCount: 1000, maxLength: 128)
        if idsField == nil, fields.problems.isEmpty { fields.problem("users_ids", "Field required", type: "missing") }
        let ids = try fields.checked(idsField)
        try await vault.users.delete(tenant: tenant.id, ids: ids)
        return .null(status: .created)
    }

    func byUsername(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, _) = try await tenant(context, request, .usersRead)
        let username = try context.parameters.require("username")
        guard username.count <= 128, let user = try await vault.users.find(tenant: tenant.id, username: username) else {
            throw Self.notFound
        }
        return .json(user.json)
    }

    func read(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, _) = try await tenant(context, request, .usersRead)
        guard let user = try await vault.users.find(tenant: tenant.id, id: try context.parameters.require("user_id")) else {
            throw Self.notFound
        }
        return .json(user.json)
    }

    func update(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, _) = try await tenant(context, request, .usersWrite)
        let id = try context.parameters.require("user_id")
        var fields = Fields(try await request.jsonObject(context: context))
        let input = VaultUser.read(&fields, tenant: tenant.id)
        if let input, input.id != id { fields.problem("user_id", "user_id must match the path", type: "value_error") }
        let user = try fields.checked(input)
        switch try await vault.users.update(user, emailUnique: tenant.hasUsernameAndEmail) {
        case .updated(let updated):
            if user.isDisabled { try await vault.sessions.revokeAll(tenant: tenant.id, userID: id) }
            return .json(updated.json)
        case .taken(let emailTaken):
            throw VaultError.exists("\(emailTaken ? "Email" : "Username")")
        case .notFound:
            throw Self.notFound
        }
    }

    /// A new email needs a fresh proof from the user: a challenge of purpose `email`,
    /// signed with the key their image unlocks.
    func updateEmail(_ request: Request, _ context: VaultContext) async throws -> Response {
        let tenantID = try context.parameters.require("tenant_id")
        let id = try context.parameters.require("user_id")
        let principal = try context.principal()
        let isSelf = principal.tenant == tenantID && principal.userID == id
        if !isSelf { try principal.require(.usersWrite, tenant: tenantID) }
        let tenant = try await vault.tenants.require(tenantID)
        var fields = Fields(try await request.jsonObject(context: context))
        let challengeField = fields.string("challenge_id", max: 64)
        let signatureField = fields.string("challenge_data", max: 256)
        let emailField = fields.email("email")
        let (challengeID, signature, email) = try fields.checked(challengeField, signatureField, emailField)
        guard let user = try await vault.users.find(tenant: tenant.id, id: id) else { throw Self.notFound }
        try await vault.login.verifyChallenge(
            tenant: tenant.id, user: user, challengeID: challengeID, signature: signature, authRequest: nil)
        guard try await vault.users.changeEmail(tenant: tenant.id, userID: id, to: email) else {
            throw VaultError.exists("Email")
        }
        return .null()
    }
}
