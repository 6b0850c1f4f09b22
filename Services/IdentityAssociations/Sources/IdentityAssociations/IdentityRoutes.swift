import Hummingbird
import SuiteCore
import SuiteHTTP

/// The two API versions: v1 as the seeds, v2 the same operations behind a bearer token.
enum APIVersion: Sendable {
    case v1, v2

    var prefix: String {
        switch self {
        case .v1: "/_matrix/identity/api/v1"
        case .v2: "/_matrix/identity/v2"
        }
    }
}

/// Every Matrix Identity Service route, registered for each enabled version. In v2 a
/// route needs the account token (and accepted terms) unless it is one a person or a
/// homeserver reaches without one: the status ping, the mailed submitToken link, the
/// public keys, terms and registration.
struct IdentityRoutes: Sendable {
    let settings: IdentitySettings
    let sessions: ValidationSessions
    let associations: Associations
    let invites: ThirdPartyInvites
    let accounts: Accounts

    typealias Open = @Sendable (Request, SuiteContext) async throws -> Response
    typealias Guarded = @Sendable (Request, SuiteContext, Account?) async throws -> Response

    /// The spec versions this server implements.
    static let versions: JSONValue = ["versions": ["r0.1.0", "r0.2.0", "r0.2.1", "r0.3.0", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5"]]

    func add(to router: Router<SuiteContext>, access: RouteAccess) {
        access.open(router) { router.get("/_matrix/identity/versions") { _, _ in Response.json(Self.versions) } }
        if settings.enableV1 { add(.v1, to: router, access: access) }
        if settings.enableV2 { add(.v2, to: router, access: access) }
    }

    private func add(_ version: APIVersion, to router: Router<SuiteContext>, access: RouteAccess) {
        let prefix = version.prefix
        func open(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping Open) {
            access.open(router) {
                router.on(RouterPath(prefix + path), method: method) { request, context in try await handler(request, context) }
            }
        }
        /// v2 needs an account token (and accepted terms); `homeserverMaySign` lets a
        /// homeserver's X-Matrix signature stand in for it (the handler checks it).
        func guarded(
            _ method: HTTPRequest.Method, _ path: String, terms: Bool = true, homeserverMaySign: Bool = false, _ handler: @escaping Guarded
        ) {
            let accounts = self.accounts
            // v1 has no accounts: all of it is open, as the spec has it.
            guard version == .v2 else {
                return open(method, path) { request, context in try await handler(request, context, nil) }
            }
            router.on(RouterPath(prefix + path), method: method) { request, context in
                guard !(homeserverMaySign && ServerRequestVerifier.isSigned(request)) else {
                    return try await handler(request, context, nil)
                }
                let account = try await accounts.authenticate(request, context: context)
                if terms { try accounts.requireTerms(account) }
                return try await handler(request, context, account)
            }
        }

        open(.get, "") { _, _ in Response.json([:]) }

        // Validation: requestToken and the POST submitToken are the client's (guarded in
        // v2); the GET submitToken is the link in the mail.
        guarded(.post, "/validate/email/requestToken") { request, context, _ in
            try await sessions.requestEmailToken(request, context: context, version: version)
        }
        guarded(.post, "/validate/email/submitToken") { request, context, _ in try await sessions.submitJSON(request, context: context) }
        open(.get, "/validate/email/submitToken") { request, context in try await sessions.submitPage(request, context: context) }
        guarded(.post, "/validate/msisdn/requestToken") { request, context, _ in
            try await sessions.requestMSISDNToken(request, context: context, version: version)
        }
        guarded(.post, "/validate/msisdn/submitToken") { request, context, _ in try await sessions.submitJSON(request, context: context) }
        open(.get, "/validate/msisdn/submitToken") { request, context in try await sessions.submitPage(request, context: context) }
        guarded(.get, "/3pid/getValidated3pid") { request, context, _ in try await sessions.getValidated(request, context: context) }

        // Associations.
        guarded(.post, "/3pid/bind", associations.bind)
        // A homeserver's signed unbind (X-Matrix) carries no v2 token; everyone else's does.
        guarded(.post, "/3pid/unbind", homeserverMaySign: true, associations.unbind)

        // Invitations and keys.
        guarded(.post, "/store-invite") { request, context, account in
            try await invites.store(request, context: context, account: account, version: version)
        }
        guarded(.post, "/sign-ed25519", invites.sign)
        open(.get, "/pubkey/ephemeral/isvalid") { request, context in try await invites.isValidEphemeral(request, context: context, account: nil) }
        open(.get, "/pubkey/isvalid") { request, context in try await invites.isValid(request, context: context, account: nil) }
        open(.get, "/pubkey/{keyId}") { request, context in try await invites.publicKey(request, context: context, account: nil) }

        switch version {
        case .v1:
            // The seed writes `/bind`; the spec and clients use `/3pid/bind`.
            open(.post, "/bind") { request, context in try await associations.bind(request, context: context, account: nil) }
            open(.get, "/lookup") { request, context in try await associations.lookup(request, context: context) }
            open(.post, "/bulk_lookup") { request, context in try await associations.bulkLookup(request, context: context) }
        case .v2:
            open(.post, "/account/register") { request, context in try await accounts.register(request, context: context) }
            guarded(.get, "/account", terms: false, accounts.account)
            guarded(.post, "/account/logout", terms: false, accounts.logout)
            open(.get, "/terms") { request, context in try await accounts.terms(request, context: context) }
            guarded(.post, "/terms", terms: false, accounts.accept)
            guarded(.get, "/hash_details", associations.hashDetails)
            guarded(.post, "/lookup", associations.hashedLookup)
        }
    }
}
