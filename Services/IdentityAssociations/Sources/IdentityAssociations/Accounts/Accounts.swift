import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import SuiteCore
import SuiteSigning
import SuiteHTTP
import SuitePostgres

/// A v2 caller: the Matrix user a bearer token belongs to, and the terms they accepted.
struct Account: Sendable {
    var userID: String
    var tokenHash: [UInt8]
    var acceptedTerms: [String]
    /// The associations' generation, read in the same statement as the token: lookups
    /// need not ask again.
    var generation: AssociationIndex.Generation?
    /// The v2 lookup pepper, read in the same statement.
    var pepper: String?
}

/// v2 accounts: registration with an OpenID token from the user's homeserver, the
/// bearer tokens it gives, and the terms users accept.
struct Accounts: Sendable {
    let store: AccountStore
    let settings: IdentitySettings
    let rateLimiter: RateLimiter
    let resolver: HomeserverResolver
    /// Concurrent requests' tokens are looked up in one statement.
    let tokens: QueryBatcher<[UInt8], AccountStore.Found>

    init(database: PostgresClient, settings: IdentitySettings, rateLimiter: RateLimiter, resolver: HomeserverResolver) {
        let store = AccountStore(database: database)
        self.store = store
        self.settings = settings
        self.rateLimiter = rateLimiter
        self.resolver = resolver
        tokens = QueryBatcher { hashes, logger in try await store.accounts(byTokenHashes: hashes, logger: logger) }
    }

    static let registrationsPerIP = RateLimit(name: "is-register-ip", limit: 60, windowSeconds: 3600)

    static let unauthorized = Matrix.error(.unauthorized, "M_UNAUTHORIZED", "Unrecognised access token")
    static let missingToken = Matrix.error(.unauthorized, "M_UNAUTHORIZED", "Missing access token")

    /// The account behind the request's token (`Authorization: Bearer …` or
    /// `?access_token=`); 401 without one.
    func authenticate(_ request: Request, context: SuiteContext) async throws -> Account {
        let token: String
        if let header = request.headers[.authorization] {
            guard header.count > 7, header.prefix(7).lowercased() == "bearer " else { throw Self.missingToken }
            token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        } else if let query = request.uri.queryParameters["access_token"] {
            token = String(query)
        } else {
            throw Self.missingToken
        }
        guard !token.isEmpty, token.utf8.count <= 256 else { throw Self.unauthorized }
        let hash = sha256(token)
        guard let found = try await tokens.load(hash, logger: context.logger) else { throw Self.unauthorized }
        return Account(userID: found.userID, tokenHash: hash, acceptedTerms: found.accepted, generation: found.generation, pepper: found.pepper)
    }

    /// 403 `M_TERMS_NOT_SIGNED` until the account accepted every document.
    func requireTerms(_ account: Account) throws(AppError) {
        guard settings.terms.isSatisfied(by: account.acceptedTerms) else {
            throw Matrix.error(.forbidden, "M_TERMS_NOT_SIGNED", "Terms not signed")
        }
    }

    // MARK: Routes

    /// `POST /v2/account/register`: checks the OpenID token with the homeserver that
    /// issued it, then gives a token for this service.
    func register(_ request: Request, context: SuiteContext) async throws -> Response {
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("access_token", "matrix_server_name")
        let openIDToken = try parameters.string("access_token", maxBytes: 1024)
        let serverName = try parameters.string("matrix_server_name", maxBytes: 255)
        guard Self.isServerName(serverName) else { throw Matrix.invalid("matrix_server_name is not a valid server name.") }
        if let type = try parameters.optionalString("token_type", maxBytes: 32), type != "Bearer" {
            throw Matrix.invalid("token_type must be Bearer.")
        }
        try await rateLimiter.enforce([(Self.registrationsPerIP, request.clientAddress(context: context))])
        let userID = try await verifyOpenID(token: openIDToken, serverName: serverName, logger: context.logger)
        let token = SecureRandom.string(count: 64)
        try await store.register(userID: userID, tokenHash: sha256(token), logger: context.logger)
        context.logger.info("account registered", metadata: ["server": "\(serverName)"])
        // sydent answers with both names.
        return Response.json(["token": .string(token), "access_token": .string(token)])
    }

    /// Asks `serverName` who the OpenID token belongs to; the user must live there.
    func verifyOpenID(token: String, serverName: String, logger: Logger) async throws -> String {
        let base = await resolver.baseURL(for: serverName, logger: logger)
        var request = HTTPClientRequest(url: "\(base)/_matrix/federation/v1/openid/userinfo?access_token=\(BrandTemplates.escapeURL(token))")
        request.method = .GET
        let status: UInt
        let body: ByteBuffer
        do {
            (status, body) = try await resolver.fetch(request)
        } catch {
            logger.warning("homeserver unreachable", metadata: ["server": "\(serverName)", "error": "\(String(reflecting: error))"])
            throw Matrix.error(.badGateway, "M_UNKNOWN", "Could not reach the homeserver \(serverName) to verify the OpenID token")
        }
        guard status == 200 else {
            throw Matrix.error(.unauthorized, "M_UNKNOWN_TOKEN", "The homeserver did not accept the OpenID token")
        }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: body)), let sub = value["sub"]?.stringValue,
            Matrix.isUserID(sub)
        else {
            throw Matrix.error(.badGateway, "M_UNKNOWN", "The homeserver's answer has no user")
        }
        guard Matrix.serverName(ofUserID: sub) == serverName else {
            throw Matrix.error(.forbidden, "M_FORBIDDEN", "The homeserver vouched for a user of another server")
        }
        return sub
    }

    /// A Matrix server name: a host name, IPv4 or bracketed IPv6, optional `:port`.
    static func isServerName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        var host = Substring(name)
        if let colon = name.lastIndex(of: ":"), !name.hasSuffix("]") {
            guard let port = Int(name[name.index(after: colon)...]), (1...65535).contains(port) else { return false }
            host = name[..<colon]
        }
        if host.hasPrefix("[") { return host.hasSuffix("]") && host.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } }
        return !host.isEmpty && host.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "." }
    }

    /// `GET /v2/account`.
    func account(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        Response.json(["user_id": .string(account?.userID ?? "")])
    }

    /// `POST /v2/account/logout`: the token stops working.
    func logout(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        guard let account else { throw Self.missingToken }
        try await store.deleteToken(hash: account.tokenHash, logger: context.logger)
        return Response.json([:])
    }

    /// `GET /v2/terms`.
    func terms(_ request: Request, context: SuiteContext) async throws -> Response {
        Response.json(settings.terms.json)
    }

    /// `POST /v2/terms`: `{"user_accepts": [url, …]}`; URLs of no current document are ignored.
    func accept(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        guard let account else { throw Self.missingToken }
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("user_accepts")
        guard case .array(let list)? = parameters.values["user_accepts"], list.count <= 100 else {
            throw Matrix.invalid("user_accepts must be a list of URLs.")
        }
        var urls: [String] = []
        for item in list {
            guard case .string(let url) = item else { throw Matrix.invalid("user_accepts must be a list of URLs.") }
            if settings.terms.allURLs.contains(url) { urls.append(url) }
        }
        if !urls.isEmpty {
            try await store.accept(terms: urls, by: account.userID, logger: context.logger)
        }
        return Response.json([:])
    }
}
