import Foundation
import HTTPTypes
import Hummingbird
import SuiteCore
import SuiteHTTP

/// SCIM 2.0 (RFC 7643/7644) per tenant under `/tenants/{tenant_id}/scim/v2`: Users and
/// Groups (create, list with filters, read with attribute selection, replace, patch,
/// delete), ServiceProviderConfig, ResourceTypes and Schemas. A tenant API key with the
/// `scim` scope, or an admin's bearer token. Bodies are `application/scim+json`;
/// `ETag`/`If-Match` guard writes (412 when the resource changed).
struct SCIMRoutes: Sendable {
    let vault: Vault
    var store: SCIMStore { SCIMStore(database: vault.database, logger: vault.logger) }

    static let contentType = "application/scim+json"

    func add(to router: Router<VaultContext>) {
        let scim = router.administered(by: vault.authenticator).group("tenants/:tenant_id/scim/v2")
        scim.get("ServiceProviderConfig") { request, context in
            let (_, base) = try await tenant(context)
            return Self.response(SCIMResources.serviceProviderConfig(base: base))
        }
        scim.get("ResourceTypes") { request, context in
            let (_, base) = try await tenant(context)
            return Self.list(SCIMResources.resourceTypes(base: base), total: 2, start: 1)
        }
        scim.get("ResourceTypes/:name") { request, context in
            let (_, base) = try await tenant(context)
            let name = context.parameters.get("name") ?? ""
            guard let type = SCIMResources.resourceTypes(base: base).first(where: { $0["id"]?.stringValue == name }) else {
                throw SCIMError.notFound("Resource type")
            }
            return Self.response(type)
        }
        scim.get("Schemas") { request, context in
            let (_, base) = try await tenant(context)
            return Self.list(SCIMResources.schemas(base: base), total: 2, start: 1)
        }
        scim.get("Schemas/:id") { request, context in
            let (_, base) = try await tenant(context)
            let id = context.parameters.get("id") ?? ""
            guard let schema = SCIMResources.schemas(base: base).first(where: { $0["id"]?.stringValue == id }) else {
                throw SCIMError.notFound("Schema")
            }
            return Self.response(schema)
        }
        scim.get("Users") { request, context in try await listUsers(request, context) }
        // RFC 7644 §3.4.3: the same query in a POSTed SearchRequest.
        scim.post("Users/.search") { request, context in try await listUsers(request, context, search: try await Self.search(request, context)) }
        scim.post(".search") { request, context in try await searchAll(request, context, search: try await Self.search(request, context)) }
        scim.post("Groups/.search") { request, context in try await listGroups(request, context, search: try await Self.search(request, context)) }
        scim.post("Users") { request, context in try await createUser(request, context) }
        scim.get("Users/:id") { request, context in
            let (tenant, base) = try await tenant(context)
            let stored = try await existingUser(tenant, context)
            return Self.response(try projected(request, try await userJSON(stored, base: base)), version: stored.user.updatedAt)
        }
        scim.put("Users/:id") { request, context in
            try await writeUser(request, context) { _, _ in try await Self.body(request, context) }
        }
        scim.patch("Users/:id") { request, context in
            try await writeUser(request, context) { current, _ in
                let operations = try SCIMPatch.operations(try await Self.body(request, context))
                var json = current
                try SCIMPatch.apply(operations, to: &json)
                return json
            }
        }
        scim.delete("Users/:id") { request, context -> Response in
            let (tenant, _) = try await tenant(context)
            let stored = try await existingUser(tenant, context)
            try Self.checkVersion(request, stored.user.updatedAt)
            try await vault.users.delete(tenant: tenant.id, ids: [stored.user.id])
            return Response(status: .noContent)
        }
        scim.get("Groups") { request, context in try await listGroups(request, context) }
        scim.post("Groups") { request, context in try await createGroup(request, context) }
        scim.get("Groups/:id") { request, context in
            let (tenant, base) = try await tenant(context)
            let group = try await existingGroup(tenant, context)
            return Self.response(try projected(request, SCIMResources.group(group, base: base)), version: group.updatedAt)
        }
        scim.put("Groups/:id") { request, context in
            try await writeGroup(request, context) { _ in try await Self.body(request, context) }
        }
        scim.patch("Groups/:id") { request, context in
            try await writeGroup(request, context) { current in
                let operations = try SCIMPatch.operations(try await Self.body(request, context))
                var json = current
                try SCIMPatch.apply(operations, to: &json)
                return json
            }
        }
        scim.delete("Groups/:id") { request, context -> Response in
            let (tenant, _) = try await tenant(context)
            let group = try await existingGroup(tenant, context)
            try Self.checkVersion(request, group.updatedAt)
            guard try await store.deleteGroup(tenant: tenant.id, id: group.id) else { throw SCIMError.notFound("Group") }
            return Response(status: .noContent)
        }
    }

    // MARK: Users

    func listUsers(_ request: Request, _ context: VaultContext, search: [String: String]? = nil) async throws -> Response {
        let (tenant, base) = try await tenant(context)
        let parameters = search ?? Self.query(request)
        let (filter, start, count) = try Self.listParameters(parameters)
        let query = SCIMUserQuery(tenant: tenant.id, filter: filter)
        if query.condition?.exact == true {
            let (users, total) = try await store.page(query, offset: start - 1, limit: count)
            let page = try await usersJSON(users, tenant: tenant.id, base: base)
            return Self.list(page, parameters, total: total, start: start)
        }
        let candidates = try await store.users(query)
        let matched = try await usersJSON(candidates, tenant: tenant.id, base: base).filter { filter?.matches($0) ?? true }
        return Self.page(matched, parameters, start: start, count: count)
    }

    /// The users as SCIM resources, their groups found in one query.
    func usersJSON(_ users: [SCIMStore.StoredUser], tenant: String, base: String) async throws -> [[String: JSONValue]] {
        let roles = Array(Set(users.flatMap(\.user.roles)))
        let groups = roles.isEmpty ? [] : try await store.groups(tenant: tenant, named: roles)
        return users.map { stored in
            SCIMResources.user(stored.user, kept: stored.kept, groups: groups.filter { stored.user.roles.contains($0.name) }, base: base)
        }
    }

    /// `POST /.search` at the root: users and groups at once, users first.
    func searchAll(_ request: Request, _ context: VaultContext, search parameters: [String: String]) async throws -> Response {
        let (tenant, base) = try await tenant(context)
        let (filter, start, count) = try Self.listParameters(parameters)
        let groups = try await store.groups(tenant: tenant.id)
        var matched = try await usersJSON(store.users(SCIMUserQuery(tenant: tenant.id, filter: filter)), tenant: tenant.id, base: base)
        matched += groups.map { SCIMResources.group($0, base: base) }
        return Self.page(matched.filter { filter?.matches($0) ?? true }, parameters, start: start, count: count)
    }

    func createUser(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, base) = try await tenant(context)
        let body = try await Self.body(request, context)
        let (user, kept) = try SCIMResources.readUser(body, tenant: tenant.id, id: UUID().uuidString.lowercased(), existing: nil)
        switch try await store.insert(user, kept: kept, emailUnique: tenant.hasUsernameAndEmail, users: vault.users) {
        case .created: break
        case .usernameTaken: throw SCIMError.uniqueness("userName \(user.username) is taken")
        case .emailTaken: throw SCIMError.uniqueness("The email is taken in this tenant")
        case .idTaken: throw SCIMError.uniqueness("The id is taken")
        }
        guard let stored = try await store.user(tenant: tenant.id, id: user.id) else { throw SCIMError.notFound("User") }
        var response = Self.response(.object(try await userJSON(stored, base: base)), status: .created, version: stored.user.updatedAt)
        response.headers[.location] = base + "/Users/" + user.id
        return response
    }

    /// PUT and PATCH: the new JSON from the current one, checked, then saved if the
    /// version is still the one the caller read.
    func writeUser(
        _ request: Request, _ context: VaultContext, change: ([String: JSONValue], VaultUser) async throws -> [String: JSONValue]
    ) async throws -> Response {
        let (tenant, base) = try await tenant(context)
        let stored = try await existingUser(tenant, context)
        try Self.checkVersion(request, stored.user.updatedAt)
        let current = try await userJSON(stored, base: base)
        var next = try await change(current, stored.user)
        // id, meta and groups are the server's.
        next["id"] = .string(stored.user.id)
        let (user, kept) = try SCIMResources.readUser(next, tenant: tenant.id, id: stored.user.id, existing: stored.user)
        switch try await store.replace(user, kept: kept, emailUnique: tenant.hasUsernameAndEmail, version: stored.user.updatedAt) {
        case .replaced(let saved):
            return Self.response(.object(try await userJSON(saved, base: base)), version: saved.user.updatedAt)
        case .changed: throw SCIMError.make(status: 412, "The user changed since it was read")
        case .taken: throw SCIMError.uniqueness("userName or email is taken in this tenant")
        }
    }

    func existingUser(_ tenant: Tenant, _ context: VaultContext) async throws -> SCIMStore.StoredUser {
        guard let id = context.parameters.get("id"), let stored = try await store.user(tenant: tenant.id, id: id) else {
            throw SCIMError.notFound("User")
        }
        return stored
    }

    func userJSON(_ stored: SCIMStore.StoredUser, base: String) async throws -> [String: JSONValue] {
        try await usersJSON([stored], tenant: stored.user.tenant, base: base)[0]
    }

    // MARK: Groups

    func listGroups(_ request: Request, _ context: VaultContext, search: [String: String]? = nil) async throws -> Response {
        let (tenant, base) = try await tenant(context)
        let parameters = search ?? Self.query(request)
        let (filter, start, count) = try Self.listParameters(parameters)
        let matched = try await store.groups(tenant: tenant.id).map { SCIMResources.group($0, base: base) }.filter { filter?.matches($0) ?? true }
        return Self.page(matched, parameters, start: start, count: count)
    }

    func createGroup(_ request: Request, _ context: VaultContext) async throws -> Response {
        let (tenant, base) = try await tenant(context)
        let (name, external, members) = try Self.readGroup(try await Self.body(request, context))
        let id = UUID().uuidString.lowercased()
        try Self.check(try await store.save(
            tenant: tenant.id, id: id, displayName: name, externalID: external, members: members, creating: true, version: nil))
        guard let group = try await store.group(tenant: tenant.id, id: id) else { throw SCIMError.notFound("Group") }
        var response = Self.response(.object(SCIMResources.group(group, base: base)), status: .created, version: group.updatedAt)
        response.headers[.location] = base + "/Groups/" + id
        return response
    }

    func writeGroup(_ request: Request, _ context: VaultContext, change: ([String: JSONValue]) async throws -> [String: JSONValue]) async throws
        -> Response
    {
        let (tenant, base) = try await tenant(context)
        let group = try await existingGroup(tenant, context)
        try Self.checkVersion(request, group.updatedAt)
        let (name, external, members) = try Self.readGroup(try await change(SCIMResources.group(group, base: base)))
        try Self.check(try await store.save(
            tenant: tenant.id, id: group.id, displayName: name, externalID: external, members: members, creating: false, version: group.updatedAt))
        guard let saved = try await store.group(tenant: tenant.id, id: group.id) else { throw SCIMError.notFound("Group") }
        return Self.response(.object(SCIMResources.group(saved, base: base)), version: saved.updatedAt)
    }

    func existingGroup(_ tenant: Tenant, _ context: VaultContext) async throws -> SCIMResources.SCIMGroup {
        guard let id = context.parameters.get("id"), let group = try await store.group(tenant: tenant.id, id: id) else {
            throw SCIMError.notFound("Group")
        }
        return group
    }

    static func readGroup(_ json: [String: JSONValue]) throws(AppError) -> (String, String?, [String]) {
        guard let name = SCIMPath.member(json, "displayName")?.stringValue, (1...64).contains(name.utf8.count),
            !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw SCIMError.invalidValue("displayName is required (1 to 64 bytes): it is the role the members get") }
        var members: [String] = []
        switch SCIMPath.member(json, "members") {
        case .array(let items)?:
            for item in items {
                guard case .object(let object) = item, let value = SCIMPath.member(object, "value")?.stringValue else {
                    throw SCIMError.invalidValue("Each member needs a value (a user id)")
                }
                if !members.contains(value) { members.append(value) }
            }
        case nil, .null?: break
        default: throw SCIMError.invalidValue("members must be an array")
        }
        guard members.count <= 10_000 else { throw SCIMError.make(status: 400, scimType: "tooMany", "At most 10000 members at once") }
        return (name, SCIMPath.member(json, "externalId")?.stringValue, members)
    }

    static func check(_ outcome: SCIMStore.GroupOutcome) throws(AppError) {
        switch outcome {
        case .saved: return
        case .nameTaken: throw SCIMError.uniqueness("A group with this displayName exists")
        case .unknownMembers(let ids): throw SCIMError.invalidValue("Unknown members: \(ids.prefix(5).joined(separator: ", "))")
        case .changed: throw SCIMError.make(status: 412, "The group changed since it was read")
        case .notFound: throw SCIMError.notFound("Group")
        }
    }

    // MARK: Shared

    func tenant(_ context: VaultContext) async throws -> (Tenant, String) {
        let id = try context.parameters.require("tenant_id")
        try context.principal().require(.scim, tenant: id)
        guard let tenant = try await vault.tenants.find(id) else { throw SCIMError.notFound("Tenant") }
        return (tenant, vault.publicURL + "/tenants/" + id + "/scim/v2")
    }

    static func body(_ request: Request, _ context: VaultContext) async throws -> [String: JSONValue] {
        do {
            return try await request.jsonObject(context: context)
        } catch let error as AppError where error.status == .unprocessableContent || error.status == .badRequest {
            throw SCIMError.invalidSyntax("The body must be a JSON object")
        }
    }

    /// The list parameters of a query string, by name.
    /// Decoded as a form: SCIM clients write spaces in filters as `+`.
    static func query(_ request: Request) -> [String: String] {
        var result: [String: String] = [:]
        for pair in (request.uri.query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            result[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return result
    }

    /// A SearchRequest body (§3.4.3) as the same parameters.
    static func search(_ request: Request, _ context: VaultContext) async throws -> [String: String] {
        let body = try await Self.body(request, context)
        var result: [String: String] = [:]
        switch SCIMPath.member(body, "schemas") {
        case .array(let items)? where items.allSatisfy({ $0.stringValue != nil }): break
        case nil, .null?: break
        default: throw SCIMError.invalidSyntax("schemas must be an array of URNs")
        }
        // RFC 7643 §3.4.3's types: strings, integers, and arrays of attribute names.
        for name in ["filter", "sortBy", "sortOrder"] {
            switch SCIMPath.member(body, name) {
            case .string(let text)?: result[name] = text
            case nil, .null?: break
            default: throw SCIMError.invalidValue("\(name) must be a string")
            }
        }
        for name in ["startIndex", "count"] {
            switch SCIMPath.member(body, name) {
            case .number(let number)? where number == number.rounded() && abs(number) < 1e15: result[name] = String(Int(number))
            case nil, .null?: break
            default: throw SCIMError.invalidValue("\(name) must be an integer")
            }
        }
        for name in ["attributes", "excludedAttributes"] {
            switch SCIMPath.member(body, name) {
            case .array(let items)? where items.allSatisfy({ $0.stringValue != nil }):
                result[name] = items.compactMap(\.stringValue).joined(separator: ",")
            case nil, .null?: break
            default: throw SCIMError.invalidValue("\(name) must be an array of attribute names")
            }
        }
        return result
    }

    static func listParameters(_ parameters: [String: String]) throws(AppError) -> (SCIMFilter?, Int, Int) {
        var filter: SCIMFilter?
        if let text = parameters["filter"], !text.isEmpty {
            do { filter = try SCIMFilter.parse(text) } catch { throw SCIMError.invalidFilter(error.message) }
        }
        if let text = parameters["startIndex"], Int(text) == nil { throw SCIMError.invalidValue("startIndex must be an integer") }
        if let text = parameters["count"], Int(text) == nil { throw SCIMError.invalidValue("count must be an integer") }
        // RFC 7644 §3.4.2.4: a startIndex below 1 is 1; a negative count is 0.
        let start = max(1, parameters["startIndex"].flatMap { Int($0) } ?? 1)
        let count = min(100, max(0, parameters["count"].flatMap { Int($0) } ?? 100))
        return (filter, start, count)
    }

    func projected(_ request: Request, _ resource: [String: JSONValue]) throws -> [String: JSONValue] {
        Self.projected(Self.query(request), resource)
    }

    static func projected(_ parameters: [String: String], _ resource: [String: JSONValue]) -> [String: JSONValue] {
        func list(_ name: String) -> [String] {
            (parameters[name] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return SCIMResources.project(resource, attributes: list("attributes"), excluded: list("excludedAttributes"))
    }

    /// `If-Match`: 412 unless it names the current version (or `*`).
    static func checkVersion(_ request: Request, _ updatedAt: Date) throws(AppError) {
        let tags = (request.headers[.ifMatch] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        // An empty If-Match names no version: as if absent.
        guard !tags.isEmpty else { return }
        let current = SCIMResources.version(updatedAt)
        guard tags.contains("*") || tags.contains(current) || tags.contains(String(current.dropFirst(2))) else {
            throw SCIMError.make(status: 412, "The resource changed: its version is \(current)")
        }
    }

    static func response(_ json: JSONValue, status: HTTPResponse.Status = .ok, version: Date? = nil) -> Response {
        var headers: HTTPFields = [.contentType: contentType]
        if let version { headers[.eTag] = SCIMResources.version(version) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.bytes(json))))
    }

    static func response(_ json: [String: JSONValue], version: Date) -> Response { response(.object(json), version: version) }

    /// A list of `resources`, each with the attributes the parameters ask for.
    static func list(_ resources: some Sequence<[String: JSONValue]>, _ parameters: [String: String], total: Int, start: Int) -> Response {
        list(resources.map { .object(projected(parameters, $0)) }, total: total, start: start)
    }

    /// The page of what matched from `start` (1-based), at most `count`; the total is all of it.
    static func page(_ matched: [[String: JSONValue]], _ parameters: [String: String], start: Int, count: Int) -> Response {
        list(matched.dropFirst(start - 1).prefix(count), parameters, total: matched.count, start: start)
    }

    static func list(_ resources: [JSONValue], total: Int, start: Int) -> Response {
        response([
            "schemas": [.string(SCIMResources.listSchema)], "totalResults": .number(Double(total)), "startIndex": .number(Double(start)),
            "itemsPerPage": .number(Double(resources.count)), "Resources": .array(resources),
        ])
    }
}
