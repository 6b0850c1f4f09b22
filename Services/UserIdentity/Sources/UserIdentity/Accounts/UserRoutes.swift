import Foundation
import Hummingbird
import PostgresNIO
import SuiteCore
import SuiteHTTP

/// Users: search, creation by admins, reading, enabling, roles, impersonation and the
/// changes of email and information.
struct UserRoutes {
    let core: Core

    func add(to router: Router<UAIContext>, access: RouteAccess) {
        // Every route but the mailed links: a valid access token of ours, or nothing is read.
        let signedIn = router.group().add(middleware: core.tokens.authenticator)
        signedIn.get("/users") { request, context in try await search(request, context) }
        signedIn.post("/users") { request, context in try await create(request, context) }
        signedIn.get("/users/me") { request, context -> Response in
            let claims = try context.caller()
            guard let id = UUID(uuidString: claims.user_id), let user = try await core.users.find(id: id) else {
                throw Problem.unauthenticated("the account no longer exists")
            }
            return Response.json(user.detail)
        }
        signedIn.get("/users/me/verify") { request, context -> Response in
            let claims = try context.caller()
            // The token may be valid for minutes more: this is the check that does not
            // trust it, for critical actions.
            guard let id = UUID(uuidString: claims.user_id), let user = try await core.users.find(id: id) else {
                throw Problem.unauthenticated("the account no longer exists")
            }
            guard user.isEnabled, !user.prototype else { throw Problem.forbidden("The account is disabled") }
            return Core.noContent()
        }
        signedIn.get("/users/:id") { request, context -> Response in
            _ = try await core.caller(context, anyOf: [Role.admin, Role.employee, Role.userManager])
            return Response.json(try await core.existingUser(try core.userID(context)).detail)
        }
        signedIn.put("/users/:id/enabling") { request, context in try await setEnabled(true, request, context) }
        signedIn.delete("/users/:id/enabling") { request, context in try await setEnabled(false, request, context) }
        signedIn.post("/users/:id/roles") { request, context in try await addRole(request, context) }
        signedIn.delete("/users/:id/roles/:role") { request, context in try await removeRole(request, context) }
        signedIn.post("/users/:id/impersonate") { request, context in try await impersonate(request, context) }
        signedIn.put("/admin/users/:id/email") { request, context in try await adminEmail(request, context) }
        signedIn.put("/admin/users/:id/information") { request, context in
            let admin = try await core.caller(context, anyOf: [Role.admin])
            return try await updateInformation(try core.userID(context), by: admin, request, context)
        }
        signedIn.put("/me/information") { request, context in
            let claims = try context.caller()
            guard let id = UUID(uuidString: claims.user_id) else { throw Problem.notFound() }
            return try await updateInformation(id, by: claims, request, context)
        }
        signedIn.post("/me/email-change") { request, context in try await requestEmailChange(request, context) }
        // The link in the mail: its checksum is the credential.
        access.open(router) {
            router.put("/email/verification/:checksum") { _, context in try await verifyEmailChange(context) }
        }
    }

    // MARK: Search

    func search(_ request: Request, _ context: UAIContext) async throws -> Response {
        _ = try await core.caller(context, anyOf: [Role.admin])
        let query = request.uri.queryParameters
        for name in ["page", "itemsPerPage", "role", "email", "ids"] where query.getAll(name).count > 1 {
            throw AppError.badRequest("\(name) may be given once.", code: "repeated_parameter")
        }
        let page = try PageRequest.parse(
            page: query["page"].map(String.init), size: query["itemsPerPage"].map(String.init),
            sizeParameter: "itemsPerPage", defaultSize: 10, maxSize: 100)
        var ids: [UUID]?
        if let text = query["ids"].map(String.init), !text.isEmpty {
            // Form-encoded queries write spaces as "+".
            let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " +")) }
            let parsed = parts.compactMap(UUID.init(uuidString:))
            guard parsed.count == parts.count, parsed.count <= 500 else {
                throw AppError.badRequest("ids must be a comma-separated list of at most 500 UUIDs.", code: "invalid_ids")
            }
            ids = parsed
        }
        let role = query["role"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let email = query["email"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        // A role or email no account can have matches nobody; no need to ask the database.
        let impossible = (role.map { !Validator.isRoleName($0) } ?? false) || (email.map { !Validate.isEmail($0) } ?? false)
        let found = impossible
            ? (users: [User](), total: 0)
            : try await core.users.search(.init(role: role, email: email, ids: ids, page: page.page, size: page.size))
        let pages = max(1, (found.total + page.size - 1) / page.size)

        func href(_ number: Int) -> [String: String] {
            var items: [String] = []
            func add(_ name: String, _ value: String) {
                let allowed = CharacterSet.urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+?#"))
                items.append(name + "=" + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value))
            }
            if let role { add("role", role) }
            if let email { add("email", email) }
            if let text = query["ids"].map(String.init), !text.isEmpty { add("ids", text) }
            add("itemsPerPage", String(page.size))
            add("page", String(number))
            return ["href": "users?" + items.joined(separator: "&")]
        }
        var links: [String: [String: String]] = ["self": href(page.page), "first": href(1), "last": href(pages)]
        if page.page < pages { links["next"] = href(page.page + 1) }
        if page.page > 1 { links["prev"] = href(min(page.page - 1, pages)) }
        return try Response.json(
            UserPage(
                count: found.users.count, total: found.total, _links: links,
                _embedded: .init(users: found.users.map(UserListItem.init))))
    }

    struct UserPage: Encodable {
        struct Embedded: Encodable { var users: [UserListItem] }
        var count: Int
        var total: Int
        var _links: [String: [String: String]]
        var _embedded: Embedded
    }

    // MARK: Creation by an admin


    /// Roles only an admin may hand out: a user manager creating an admin would be a
    /// way around the admin role.
    static let adminOnlyRoles: Set<String> = [Role.admin, Role.userManager]

    /// A user without a password, who signs in through a social provider. Admins and
    /// user managers ("only internal users": they cannot grant the admin roles).
    func create(_ request: Request, _ context: UAIContext) async throws -> Response {
        let caller = try await core.caller(context, anyOf: [Role.admin, Role.userManager])
        let input = try await request.decodeJSON(as: NewUser.self, context: context)
        let user = try User.new(from: input, prototype: false)
        if !caller.roles.contains(Role.admin), let role = user.roles.first(where: Self.adminOnlyRoles.contains) {
            throw Problem.forbidden("Only uai_admin can grant \(role)")
        }
        try await core.transaction { connection in try await core.users.insert(user, on: connection) }
        context.logger.info("user created", metadata: ["user_id": "\(user.idString)", "by": "\(caller.user_id)"])
        return Core.created(core.location("/users/\(user.idString)"))
    }

    // MARK: Enabling and roles

    func setEnabled(_ enabled: Bool, _ request: Request, _ context: UAIContext) async throws -> Response {
        let admin = try await core.caller(context, anyOf: [Role.admin])
        let id = try core.userID(context)
        // An admin locked out by itself would need another admin to get back in.
        if !enabled, id.uuidString.lowercased() == admin.user_id.lowercased() {
            throw Problem.forbidden("You cannot disable your own account")
        }
        try await core.transaction { connection in
            guard let user = try await core.users.lock(id: id, on: connection) else { throw Problem.notFound() }
            if enabled && user.prototype {
                throw AppError(
                    status: .badRequest, code: "prototype", title: "Bad Request",
                    detail: "A prototype user is enabled by redeeming an invitation")
            }
            guard user.isEnabled != enabled else { return }
            try await core.users.setEnabled(id, enabled, on: connection)
            try await EventStore.record(
                enabled ? "UserWasEnabled" : "UserWasDisabled", ["userId": .string(user.idString), "by": .string(admin.user_id)],
                on: connection, logger: core.logger)
        }
        context.logger.info(enabled ? "user enabled" : "user disabled", metadata: ["user_id": "\(id)", "by": "\(admin.user_id)"])
        return Core.noContent()
    }

    struct RoleInput: Decodable {
        var role: String?
    }

    func addRole(_ request: Request, _ context: UAIContext) async throws -> Response {
        let admin = try await core.caller(context, anyOf: [Role.admin])
        let id = try core.userID(context)
        let input = try await request.decodeJSON(as: RoleInput.self, context: context)
        var validator = Validator()
        let roleField = validator.required(input.role, field: "role")
        if let roleField, !Validator.isRoleName(roleField) {
            validator.messages.add("role", "roleInvalid", "A role is 1 to 64 letters, digits, '_', '-', '.' or ':'")
        }
        try validator.checkSeed()
        guard let role = roleField else { throw Problem.unprocessable(validator.messages) }
        try await core.transaction { connection in
            guard let user = try await core.users.lock(id: id, on: connection) else { throw Problem.notFound() }
            if user.has(role: role) { throw Problem.conflict("role", "roleAlreadyAdded", "The user already has the role \(role)") }
            try await core.users.addRole(role, to: id, on: connection)
            try await EventStore.record(
                "UserRoleWasAdded", ["userId": .string(user.idString), "role": .string(role), "by": .string(admin.user_id)],
                on: connection, logger: core.logger)
        }
        return Core.noContent()
    }

    func removeRole(_ request: Request, _ context: UAIContext) async throws -> Response {
        let admin = try await core.caller(context, anyOf: [Role.admin])
        let id = try core.userID(context)
        let role = context.parameters.get("role") ?? ""
        try await core.transaction { connection in
            if role == Role.admin {
                // Every admin's row, locked in one order, so two admins removing each other
                // at once cannot both succeed (nor deadlock): one sees the other's removal.
                let admins = try await core.users.lockAll(withRole: Role.admin, on: connection)
                if admins.contains(id), admins.filter({ $0 != id }).isEmpty {
                    throw Problem.conflict("role", "lastAdmin", "The last \(Role.admin) cannot lose the role")
                }
            }
            guard let user = try await core.users.lock(id: id, on: connection), user.has(role: role) else {
                throw Problem.notFound()
            }
            try await core.users.removeRole(role, from: id, on: connection)
            try await EventStore.record(
                "UserRoleWasRemoved", ["userId": .string(user.idString), "role": .string(role), "by": .string(admin.user_id)],
                on: connection, logger: core.logger)
        }
        return Core.noContent()
    }

    // MARK: Impersonation

    /// The seed's two rules: an admin may act as anyone who is not an admin; a property
    /// acquisition agent only as an accommodation provider. Nobody impersonates a
    /// disabled account, and an impersonation token cannot start another one.
    func impersonate(_ request: Request, _ context: UAIContext) async throws -> Response {
        let caller = try await core.caller(context, anyOf: [Role.admin, Role.propertyAcquisitionAgent])
        guard caller.impersonated_user_id == nil else {
            throw Problem.forbidden("An impersonation token cannot impersonate again")
        }
        let target = try await core.existingUser(try core.userID(context))
        let allowed =
            (caller.roles.contains(Role.admin) && !target.has(role: Role.admin))
            || (caller.roles.contains(Role.propertyAcquisitionAgent) && target.has(role: Role.accommodationProvider))
        guard allowed, target.idString != caller.user_id else {
            throw Problem.forbidden("You may not impersonate this user")
        }
        guard target.isEnabled, !target.prototype else { throw Problem.forbidden("The user is disabled") }
        let impersonator = UUID(uuidString: caller.user_id)
        let pair = try await core.issue(
            for: target, family: nil, impersonator: impersonator, markAuthenticated: false,
            event: ("UserWasImpersonated", ["userId": .string(target.idString), "impersonatorId": .string(caller.user_id)]))
        context.logger.notice("impersonation", metadata: ["user_id": "\(target.idString)", "by": "\(caller.user_id)"])
        return try Response.json(pair, status: .created)
    }

    // MARK: Email and information

    struct AdminEmail: Decodable {
        var email: String?
        var notify: Bool?
    }

    func adminEmail(_ request: Request, _ context: UAIContext) async throws -> Response {
        let admin = try await core.caller(context, anyOf: [Role.admin])
        let id = try core.userID(context)
        let input = try await request.decodeJSON(as: AdminEmail.self, context: context)
        var validator = Validator()
        let email = validator.email(input.email)
        try validator.checkSeed()
        guard let email else { throw Problem.unprocessable(validator.messages) }
        try await core.transaction { connection in
            guard var user = try await core.users.lock(id: id, on: connection) else { throw Problem.notFound() }
            guard user.email != email else { return }
            let oldEmail = user.email
            try await changeEmail(of: &user, to: email, by: admin.user_id, on: connection)
            if input.notify ?? true {
                try await core.mailer.queue(.emailChanged, to: user, values: [:], on: connection)
                try await notifyOldAddress(oldEmail, of: user, on: connection)
            }
        }
        return Core.noContent()
    }

    /// The address an account leaves is told, so a hijacked account does not go unnoticed.
    private func notifyOldAddress(_ oldEmail: String, of user: User, on connection: PostgresConnection) async throws {
        try await core.mailer.queue(.emailChangedNotice, to: user, address: oldEmail, values: ["new_email": user.email], on: connection)
    }

    private func changeEmail(of user: inout User, to email: String, by: String, on connection: PostgresConnection) async throws {
        if try await core.users.emailExists(email, on: connection) { throw Problem.emailInUse }
        guard try await core.users.setEmail(email, of: user.id, on: connection) else { throw Problem.emailInUse }
        try await EventStore.record(
            "UserEmailWasChanged",
            ["userId": .string(user.idString), "oldEmail": .string(user.email), "email": .string(email), "by": .string(by)],
            on: connection, logger: core.logger)
        user.email = email
    }

    struct Information: Decodable {
        var fullname: String?
        var locale: String?
    }

    func updateInformation(_ id: UUID, by caller: UserClaims, _ request: Request, _ context: UAIContext) async throws
        -> Response
    {
        let input = try await request.decodeJSON(as: Information.self, context: context)
        var validator = Validator()
        let fullname = validator.fullname(input.fullname)
        let locale = validator.locale(input.locale)
        try validator.checkSeed()
        guard let fullname else { throw Problem.unprocessable(validator.messages) }
        try await core.transaction { connection in
            guard let user = try await core.users.lock(id: id, on: connection) else { throw Problem.notFound() }
            guard user.fullname != fullname || user.locale != locale else { return }
            try await core.users.setInformation(of: id, fullname: fullname, locale: locale, on: connection)
            try await EventStore.record(
                "UserInformationWasUpdated",
                ["userId": .string(user.idString), "fullname": .string(fullname), "locale": .string(locale), "by": .string(caller.user_id)],
                on: connection, logger: core.logger)
        }
        return Core.noContent()
    }

    struct EmailChange: Decodable {
        var email: String?
        var callback_url: String?
    }

    static let emailChangeByUser = RateLimit(name: "email-change-user", limit: 5, windowSeconds: 3_600)

    /// The user asks; the new address proves itself by the link mailed to it.
    func requestEmailChange(_ request: Request, _ context: UAIContext) async throws -> Response {
        let claims = try context.caller()
        let input = try await request.decodeJSON(as: EmailChange.self, context: context)
        var validator = Validator()
        let email = validator.email(input.email)
        let callback = validator.callback(input.callback_url, field: "callback_url", allowedHosts: core.settings.callbackHosts)
        try validator.checkSeed()
        guard let email, let callback, let id = UUID(uuidString: claims.user_id) else {
            throw Problem.unprocessable(validator.messages)
        }
        try await core.rateLimiter.enforce([(Self.emailChangeByUser, claims.user_id)])
        let secret = Secret.make()
        try await core.transaction { connection in
            guard let user = try await core.users.lock(id: id, on: connection) else { throw Problem.notFound() }
            if try await core.users.emailExists(email, on: connection) { throw Problem.emailInUse }
            let expires = Date().addingTimeInterval(TimeInterval(core.settings.emailChangeTTL))
            try await core.users.insertEmailChange(tokenHash: Secret.digest(secret), user: id, email: email, expires: expires, on: connection)
            try await EventStore.record(
                "UserEmailChangeWasRequested", ["userId": .string(user.idString), "email": .string(email)],
                on: connection, logger: core.logger)
            try await core.mailer.queue(
                .emailChange, to: user, address: email,
                values: [
                    "link": CallbackURL.link(callback, secret: secret),
                    "validity": Core.validity(core.settings.emailChangeTTL, locale: user.locale),
                ], on: connection)
        }
        return Core.noContent()
    }

    func verifyEmailChange(_ context: UAIContext) async throws -> Response {
        guard let checksum = context.parameters.get("checksum"), Secret.isWellFormed(checksum) else { throw Problem.notFound() }
        try await core.transaction { connection in
            guard let (userID, email, used) = try await core.users.lockEmailChange(tokenHash: Secret.digest(checksum), on: connection) else {
                throw Problem.notFound()
            }
            if used { throw Problem.conflict("checksum", "alreadyVerified", "This email change was already verified") }
            guard var user = try await core.users.lock(id: userID, on: connection) else { throw Problem.notFound() }
            try await core.users.markEmailChangeUsed(tokenHash: Secret.digest(checksum), on: connection)
            if user.email != email {
                let oldEmail = user.email
                try await changeEmail(of: &user, to: email, by: user.idString, on: connection)
                try await notifyOldAddress(oldEmail, of: user, on: connection)
            }
        }
        return Core.noContent()
    }
}
