import Foundation
import Hummingbird
import Logging
import SuiteContracts
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// `POST /application/token/`: an application's credentials and a user's email in, a
/// delegation token out.
struct TokenRoute: Sendable {
    let delegation: Delegation
    let applications: ApplicationStore
    let rateLimiter: RateLimiter

    static let byClient = RateLimit(name: "meet-token-client", limit: 60, windowSeconds: 60)
    static let byAddress = RateLimit(name: "meet-token-ip", limit: 120, windowSeconds: 60)

    let users: DelegatedUsers


    func handle(_ request: Request, _ context: MeetContext) async throws -> Response {
        let fields = try await Self.fields(request, context)
        // 1. The body, DRF-style: every field's problem at once.
        var errors: [String: [String]] = [:]
        for name in ["client_id", "client_secret", "grant_type", "scope"] {
            switch fields[name] {
            case nil: errors[name] = ["This field is required."]
            case .some(""): errors[name] = ["This field may not be blank."]
            default: break
            }
        }
        if let grant = fields["grant_type"], !grant.isEmpty, grant != "client_credentials" {
            errors["grant_type"] = ["\"\(grant)\" is not a valid choice."]
        }
        if !errors.isEmpty { throw MeetError.fields(errors) }
        let clientID = fields["client_id"]!, secret = fields["client_secret"]!, email = fields["scope"]!.trimmingCharacters(in: .whitespaces)

        try await rateLimiter.enforce([(Self.byClient, clientID), (Self.byAddress, request.clientAddress(context: context))])
        // 2. The credentials; an unknown client costs the same hash as a known one.
        // A NUL cannot be in a stored id (PostgreSQL text holds none): no such client.
        let application = clientID.utf8.contains(0) ? nil : try await applications.find(clientID: clientID)
        let matches = Credentials.matches(secret, hash: application?.secretHash ?? Credentials.hash(""))
        guard let application, matches else {
            context.logger.notice("token refused: invalid credentials")
            throw MeetError.token(.unauthorized, "Invalid credentials")
        }
        // 3. Only after the secret matched, so nobody learns which applications are disabled.
        guard application.isActive else { throw MeetError.token(.unauthorized, "Application is inactive") }
        // 4. The user to act for.
        guard Validate.isEmail(email), let domain = email.split(separator: "@").last else {
            throw MeetError.fields(["scope": ["Invalid email address."]])
        }
        guard application.mayDelegate(domain: String(domain)) else {
            throw MeetError.token(.forbidden, "This application is not authorized for this email domain.")
        }
        // 5. The user must exist at User&Identity (flow 1), enabled and not a prototype
        //    (or be made provisional).
        let user: DirectoryUser?
        do {
            user = try await users.user(email, context: context)
        } catch let error as AppError where error.status.code >= 500 {
            // A peer outage in the endpoint's own shape, `{"error": …}`, Retry-After kept.
            var shaped = MeetError.token(error.status, error.detail ?? "User&Identity is unavailable.")
            for field in error.headers { shaped.headers.append(field) }
            throw shaped
        }
        guard let user else { throw MeetError.token(.badRequest, "User not found.") }

        // The application's scopes as La Suite Meet reads them: lowercased, once each.
        let granted = Set(application.scopes.map { $0.lowercased() })
        let scopes = Scope.all.filter(granted.contains)
        let token = delegation.issue(clientID: clientID, userID: user.id, scopes: scopes)
        context.logger.notice(
            "audit: token issued", metadata: ["client_id": "\(clientID)", "user_id": "\(user.id)"])
        return Response.json([
            "access_token": .string(token), "token_type": "Bearer", "expires_in": .number(Double(delegation.settings.tokenTTL)),
            "scope": .string(scopes.joined(separator: " ")),
        ])
    }

    /// The body's fields, from JSON (strings only) or a form; 415 for anything else.
    static func fields(_ request: Request, _ context: MeetContext) async throws -> [String: String] {
        let type = request.headers[.contentType].map(Request.mediaType) ?? ""
        if type == "application/x-www-form-urlencoded" { return try await request.decodeForm(context: context) }
        guard Request.isJSON(type) else {
            throw AppError.unsupportedMediaType("Unsupported media type \"\(type)\" in request.")
        }
        guard let body = try await request.decodeJSONIfPresent(as: JSONValue.self, context: context) else { return [:] }
        guard case .object(let members) = body else {
            throw MeetError.fields(["non_field_errors": ["Invalid data. Expected a dictionary, but got \(kind(body))."]])
        }
        var fields: [String: String] = [:]
        var errors: [String: [String]] = [:]
        // Only the four fields are read; others are ignored, as DRF does.
        for (name, value) in members where ["client_id", "client_secret", "grant_type", "scope"].contains(name) {
            switch value {
            case .string(let text): fields[name] = text
            case .null: errors[name] = ["This field may not be null."]
            default: errors[name] = ["Not a valid string."]
            }
        }
        if !errors.isEmpty { throw MeetError.fields(errors) }
        return fields
    }

    private static func kind(_ value: JSONValue) -> String {
        switch value {
        case .array: "list"
        case .string: "str"
        case .number: "int"
        case .bool: "bool"
        case .null: "NoneType"
        case .object: "dict"
        }
    }
}
