import Foundation
import SuiteCore

/// SCIM users are the tenant's users (`userName` = username, `externalId` = external_id,
/// `active` = not disabled, `emails` = the email); the other core attributes a client
/// sends (name, displayName…) are kept as it sent them. Groups map to roles: a group's
/// members are the users holding the role named by its `displayName`.
enum SCIMResources {
    static let userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
    static let groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
    static let listSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

    /// The core attributes kept as sent, beyond those the vault's own columns hold.
    static let keptUserAttributes: Set<String> = [
        "name", "displayName", "nickName", "profileUrl", "title", "userType", "preferredLanguage", "timezone", "phoneNumbers", "addresses",
        "emails",
    ]

    /// Kept beside the attributes: the client left `active` unassigned.
    static let activeUnassigned = "$activeUnassigned"

    /// `W/"<updated_at in ms>"`: changes with every write.
    static func version(_ date: Date) -> String { "W/\"\(Int64((date.timeIntervalSince1970 * 1000).rounded()))\"" }

    struct SCIMGroup: Sendable {
        var id: String
        var displayName: String
        var externalID: String?
        var members: [(id: String, username: String)]
        var createdAt: Date
        var updatedAt: Date
    }

    static func user(_ user: VaultUser, kept: [String: JSONValue], groups: [(id: String, name: String)], base: String) -> [String: JSONValue] {
        var json: [String: JSONValue] = [:]
        for (name, value) in kept where keptUserAttributes.contains(name) { json[name] = value }
        json["schemas"] = [.string(userSchema)]
        json["id"] = .string(user.id)
        json["userName"] = .string(user.username)
        // A client that never set `active`, or removed it, reads it unassigned (RFC 7644
        // §3.5.2.2); the user is enabled meanwhile.
        if !(kept[activeUnassigned] == .bool(true) && !user.isDisabled) { json["active"] = .bool(!user.isDisabled) }
        // The emails as the client sent them when they still name the user's email, else it alone.
        if case .array(let sent)? = kept["emails"],
            sent.contains(where: { $0["value"]?.stringValue?.lowercased() == user.email })
        {
            json["emails"] = .array(sent)
        } else {
            json["emails"] = [["value": .string(user.email), "primary": true, "type": "work"]]
        }
        if let external = user.externalID { json["externalId"] = .string(external) }
        if let locale = user.locale { json["locale"] = .string(locale) }
        if !groups.isEmpty {
            json["groups"] = .array(groups.map {
                ["value": .string($0.id), "display": .string($0.name), "$ref": .string(base + "/Groups/" + $0.id), "type": "direct"]
            })
        }
        json["meta"] = [
            "resourceType": "User", "created": .string(Timestamp.millis(user.createdAt)), "lastModified": .string(Timestamp.millis(user.updatedAt)),
            "location": .string(base + "/Users/" + user.id), "version": .string(version(user.updatedAt)),
        ]
        return json
    }

    static func group(_ group: SCIMGroup, base: String) -> [String: JSONValue] {
        var json: [String: JSONValue] = [
            "schemas": [.string(groupSchema)], "id": .string(group.id), "displayName": .string(group.displayName),
            // value and $ref only: what a client sends back reads back the same (scim2-tester
            // compares a PATCH's members exactly); a client looks a member up for its name.
            "members": .array(group.members.map { ["value": .string($0.id), "$ref": .string(base + "/Users/" + $0.id)] }),
            "meta": [
                "resourceType": "Group", "created": .string(Timestamp.millis(group.createdAt)),
                "lastModified": .string(Timestamp.millis(group.updatedAt)), "location": .string(base + "/Groups/" + group.id),
                "version": .string(version(group.updatedAt)),
            ],
        ]
        if let external = group.externalID { json["externalId"] = .string(external) }
        return json
    }

    /// A user from a SCIM body (create, replace, or the result of a patch), over `existing`.
    static func readUser(_ json: [String: JSONValue], tenant: String, id: String, existing: VaultUser?) throws(AppError)
        -> (user: VaultUser, kept: [String: JSONValue])
    {
        guard let userName = SCIMPath.member(json, "userName")?.stringValue, !userName.isEmpty else {
            throw SCIMError.invalidValue("userName is required")
        }
        guard userName.utf8.count <= 128, userName.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.@-".contains($0)) }) else {
            throw SCIMError.invalidValue("userName may hold letters, digits, '_', '.', '@' and '-' (at most 128)")
        }
        var email = existing?.email
        switch SCIMPath.member(json, "emails") {
        case .array(let items)?:
            let values = items.compactMap { item -> (String, Bool)? in
                guard case .object(let object) = item, let value = SCIMPath.member(object, "value")?.stringValue else { return nil }
                return (value, SCIMPath.member(object, "primary") == .bool(true))
            }
            email = (values.first { $0.1 } ?? values.first)?.0
        case .null?, nil: if existing == nil { email = nil }
        default: throw SCIMError.invalidValue("emails must be an array")
        }
        guard let email, Validate.isEmail(email) else { throw SCIMError.invalidValue("A user needs a valid email (emails[primary eq true].value)") }
        var active = true
        var assigned = true
        switch SCIMPath.member(json, "active") {
        case .bool(let flag)?: active = flag
        case .string(let text)? where ["true", "false"].contains(text.lowercased()): active = text.lowercased() == "true"
        case nil, .null?: assigned = false
        default: throw SCIMError.invalidValue("active must be a boolean")
        }
        let external = SCIMPath.member(json, "externalId")?.stringValue
        if let external, external.utf8.count > 256 { throw SCIMError.invalidValue("externalId is longer than 256 bytes") }
        let locale = SCIMPath.member(json, "locale")?.stringValue
        if let locale, locale.utf8.count > 64 { throw SCIMError.invalidValue("locale is longer than 64 bytes") }
        var kept: [String: JSONValue] = [:]
        for (name, value) in json {
            if let canonical = keptUserAttributes.first(where: { $0.lowercased() == name.lowercased() }), value != .null { kept[canonical] = value }
        }
        if !assigned { kept[activeUnassigned] = true }
        guard CanonicalJSON.bytes(.object(kept)).count <= 16_384 else { throw SCIMError.invalidValue("The user's attributes are too large") }
        let user = VaultUser(
            tenant: tenant, id: id, username: userName, email: email.lowercased(), isDisabled: !active, isVerified: existing?.isVerified ?? false,
            locale: locale, roles: existing?.roles ?? [], externalID: external, createdAt: existing?.createdAt ?? Date(), updatedAt: Date())
        return (user, kept)
    }

    /// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5): `id` and `schemas` always stay.
    static func project(_ resource: [String: JSONValue], attributes: [String], excluded: [String]) -> [String: JSONValue] {
        func split(_ list: [String]) -> [(String, String?)] {
            list.map { path in
                let parts = SCIMPath(path).parts.map { $0.lowercased() }
                return (parts.first ?? "", parts.count > 1 ? parts[1] : nil)
            }
        }
        var result = resource
        if !attributes.isEmpty {
            let wanted = split(attributes)
            result = [:]
            for (name, value) in resource {
                let lower = name.lowercased()
                if ["id", "schemas"].contains(lower) { result[name] = value; continue }
                let subs = wanted.filter { $0.0 == lower }
                if subs.isEmpty { continue }
                if subs.contains(where: { $0.1 == nil }) { result[name] = value; continue }
                let keep = Set(subs.compactMap(\.1))
                result[name] = filterSubs(value) { keep.contains($0.lowercased()) }
            }
        }
        for (top, sub) in split(excluded) where !["id", "schemas"].contains(top) {
            guard let key = SCIMPatch.existingKey(result, top) else { continue }
            if let sub { result[key] = filterSubs(result[key] ?? .null) { $0.lowercased() != sub } } else { result.removeValue(forKey: key) }
        }
        return result
    }

    private static func filterSubs(_ value: JSONValue, _ keep: (String) -> Bool) -> JSONValue {
        switch value {
        case .object(let object): .object(object.filter { keep($0.key) })
        case .array(let items): .array(items.map { filterSubs($0, keep) })
        default: value
        }
    }

    // MARK: Discovery (RFC 7643 §5, §6, §7)

    static func serviceProviderConfig(base: String) -> JSONValue {
        [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
            "patch": ["supported": true], "bulk": ["supported": false, "maxOperations": 0, "maxPayloadSize": 0],
            "filter": ["supported": true, "maxResults": 100], "changePassword": ["supported": false], "sort": ["supported": false],
            "etag": ["supported": true],
            "authenticationSchemes": [
                ["type": "oauthbearertoken", "name": "Bearer token", "description": "A tenant admin's access token", "primary": true],
                ["type": "apikey", "name": "X-API-Key", "description": "A tenant API key with the scim scope"],
            ],
            "meta": ["resourceType": "ServiceProviderConfig", "location": .string(base + "/ServiceProviderConfig")],
        ]
    }

    static func resourceTypes(base: String) -> [JSONValue] {
        [
            [
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User", "name": "User", "endpoint": "/Users",
                "schema": .string(userSchema), "meta": ["resourceType": "ResourceType", "location": .string(base + "/ResourceTypes/User")],
            ],
            [
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "Group", "name": "Group", "endpoint": "/Groups",
                "schema": .string(groupSchema), "meta": ["resourceType": "ResourceType", "location": .string(base + "/ResourceTypes/Group")],
            ],
        ]
    }

    static func attribute(
        _ name: String, type: String = "string", multiValued: Bool = false, required: Bool = false, caseExact: Bool = false,
        mutability: String = "readWrite", returned: String = "default", uniqueness: String = "none", sub: [JSONValue]? = nil,
        referenceTypes: [String]? = nil
    ) -> JSONValue {
        var object: [String: JSONValue] = [
            "name": .string(name), "type": .string(type), "multiValued": .bool(multiValued), "description": .string(name),
            "required": .bool(required), "caseExact": .bool(caseExact), "mutability": .string(mutability), "returned": .string(returned),
            "uniqueness": .string(uniqueness),
        ]
        if let sub { object["subAttributes"] = .array(sub) }
        if let referenceTypes { object["referenceTypes"] = .array(referenceTypes.map(JSONValue.string)) }
        return .object(object)
    }

    static func schemas(base: String) -> [JSONValue] {
        let multi = [attribute("value"), attribute("type"), attribute("primary", type: "boolean"), attribute("display", mutability: "readOnly")]
        // The vault keeps one email a user must have: its value is required.
        let emails = [attribute("value", required: true), attribute("type"), attribute("primary", type: "boolean"), attribute("display", mutability: "readOnly")]
        let user: JSONValue = [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": .string(userSchema), "name": "User", "description": "User Account",
            "attributes": .array([
                attribute("userName", required: true, uniqueness: "server"),
                attribute("name", type: "complex", sub: ["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"].map { attribute($0) }),
                attribute("displayName"), attribute("nickName"), attribute("profileUrl", type: "reference"), attribute("title"),
                attribute("userType"), attribute("preferredLanguage"), attribute("locale"), attribute("timezone"),
                attribute("active", type: "boolean"),
                attribute("emails", type: "complex", multiValued: true, required: true, sub: emails),
                attribute("phoneNumbers", type: "complex", multiValued: true, sub: multi),
                attribute("addresses", type: "complex", multiValued: true, sub: ["formatted", "streetAddress", "locality", "region", "postalCode", "country", "type"].map { attribute($0) }),
                attribute(
                    "groups", type: "complex", multiValued: true, mutability: "readOnly",
                    sub: [attribute("value", mutability: "readOnly"), attribute("$ref", type: "reference", mutability: "readOnly", referenceTypes: ["Group"]),
                          attribute("display", mutability: "readOnly"), attribute("type", mutability: "readOnly")]),
            ]),
            "meta": ["resourceType": "Schema", "location": .string(base + "/Schemas/" + userSchema)],
        ]
        let group: JSONValue = [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": .string(groupSchema), "name": "Group", "description": "Group",
            "attributes": .array([
                attribute("displayName", required: true, uniqueness: "server"),
                attribute(
                    "members", type: "complex", multiValued: true,
                    sub: [attribute("value", mutability: "immutable"), attribute("$ref", type: "reference", mutability: "immutable", referenceTypes: ["User"]),
                          attribute("display", mutability: "readOnly"), attribute("type", mutability: "readOnly")]),
            ]),
            "meta": ["resourceType": "Schema", "location": .string(base + "/Schemas/" + groupSchema)],
        ]
        return [user, group]
    }
}
