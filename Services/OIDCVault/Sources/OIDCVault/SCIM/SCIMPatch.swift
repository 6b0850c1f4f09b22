import Foundation
import SuiteCore

/// SCIM PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` operations applied to a
/// resource's JSON, with paths `attr`, `attr.sub` and `attr[filter]` (`.sub`). The
/// caller maps the changed JSON back to its rows.
enum SCIMPatch {
    static let schema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

    struct Operation: Sendable {
        enum Kind: String, Sendable { case add, replace, remove }
        let kind: Kind
        let path: String?
        let value: JSONValue?
    }

    static func operations(_ body: [String: JSONValue]) throws(AppError) -> [Operation] {
        guard case .array(let schemas)? = body["schemas"], schemas.contains(.string(schema)) else {
            throw SCIMError.invalidSyntax("A PATCH body must name the schema \(schema)")
        }
        guard case .array(let items)? = SCIMPath.member(body, "Operations"), !items.isEmpty, items.count <= 100 else {
            throw SCIMError.invalidSyntax("Operations must be an array of 1 to 100 operations")
        }
        var result: [Operation] = []
        for item in items {
            guard case .object(let object) = item, let name = SCIMPath.member(object, "op")?.stringValue,
                let kind = Operation.Kind(rawValue: name.lowercased())
            else { throw SCIMError.invalidSyntax("Each operation needs an op of add, replace or remove") }
            let path = SCIMPath.member(object, "path")?.stringValue
            let value = SCIMPath.member(object, "value")
            if kind == .remove, path == nil { throw SCIMError.make(status: 400, scimType: "noTarget", "remove needs a path") }
            if kind != .remove, value == nil { throw SCIMError.invalidValue("\(name) needs a value") }
            result.append(Operation(kind: kind, path: path, value: value))
        }
        return result
    }

    static func apply(_ operations: [Operation], to resource: inout [String: JSONValue]) throws(AppError) {
        for operation in operations {
            guard let path = operation.path else {
                guard case .object(let members)? = operation.value else {
                    throw SCIMError.invalidValue("Without a path, the value must be an object of attributes")
                }
                for (name, value) in members { try apply(operation.kind, path: name, value: value, to: &resource) }
                continue
            }
            try apply(operation.kind, path: path, value: operation.value, to: &resource)
        }
    }

    private static func apply(_ kind: Operation.Kind, path: String, value: JSONValue?, to resource: inout [String: JSONValue]) throws(AppError) {
        let parsed = try Path(path)
        let key = existingKey(resource, parsed.attribute) ?? parsed.attribute
        if let filter = parsed.filter {
            guard case .array(var items)? = resource[key] else {
                if kind == .remove { return }
                throw SCIMError.make(status: 400, scimType: "noTarget", "No value of \(parsed.attribute) matches the filter")
            }
            var matched = false
            var kept: [JSONValue] = []
            for item in items {
                guard case .object(var element) = item, filter.matches(element) else { kept.append(item); continue }
                matched = true
                switch (kind, parsed.sub) {
                case (.remove, nil): continue
                case (.remove, let sub?): element.removeValue(forKey: existingKey(element, sub) ?? sub)
                case (_, let sub?): element[existingKey(element, sub) ?? sub] = value ?? .null
                case (_, nil):
                    guard case .object(let replacement)? = value else { throw SCIMError.invalidValue("The value must be an object") }
                    for (name, member) in replacement { element[existingKey(element, name) ?? name] = member }
                }
                kept.append(.object(element))
            }
            if !matched, kind != .remove { throw SCIMError.make(status: 400, scimType: "noTarget", "No value of \(parsed.attribute) matches the filter") }
            items = kept
            resource[key] = .array(items)
            return
        }
        if let sub = parsed.sub {
            var object: [String: JSONValue] = if case .object(let existing)? = resource[key] { existing } else { [:] }
            let subKey = existingKey(object, sub) ?? sub
            if kind == .remove { object.removeValue(forKey: subKey) } else { object[subKey] = value ?? .null }
            resource[key] = .object(object)
            return
        }
        switch kind {
        case .remove:
            resource.removeValue(forKey: key)
        case .replace:
            resource[key] = value ?? .null
        case .add:
            switch (resource[key], value) {
            case (.array(let existing)?, .array(let added)?):
                resource[key] = .array(existing + added.filter { new in !existing.contains { same($0, new) } })
            case (.array(let existing)?, let single?):
                resource[key] = .array(existing.contains { same($0, single) } ? existing : existing + [single])
            case (.object(var existing)?, .object(let added)?):
                for (name, member) in added { existing[existingKey(existing, name) ?? name] = member }
                resource[key] = .object(existing)
            default:
                resource[key] = value ?? .null
            }
        }
    }

    /// Two values of a multi-valued attribute are the same when their `value`s are.
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if case .object(let left) = a, case .object(let right) = b, let x = left["value"], let y = right["value"] { return x == y }
        return a == b
    }

    static func existingKey(_ object: [String: JSONValue], _ name: String) -> String? {
        if object[name] != nil { return name }
        let lower = name.lowercased()
        return object.keys.first { $0.lowercased() == lower }
    }

    /// `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub` (a core-schema URN prefix allowed).
    struct Path {
        let attribute: String
        let filter: SCIMFilter?
        let sub: String?

        init(_ text: String) throws(AppError) {
            guard text.utf8.count <= 1_024 else { throw SCIMError.make(status: 400, scimType: "invalidPath", "The path is too long") }
            var rest = text
            for urn in ["urn:ietf:params:scim:schemas:core:2.0:User:", "urn:ietf:params:scim:schemas:core:2.0:Group:"]
            where rest.lowercased().hasPrefix(urn.lowercased()) {
                rest = String(rest.dropFirst(urn.count))
            }
            if let open = rest.firstIndex(of: "["), let close = rest.lastIndex(of: "]"), open < close {
                attribute = String(rest[..<open])
                do {
                    filter = try SCIMFilter.parse(String(rest[rest.index(after: open)..<close]))
                } catch {
                    throw SCIMError.make(status: 400, scimType: "invalidPath", "The path's filter: \(error.message)")
                }
                let after = rest[rest.index(after: close)...]
                if after.isEmpty {
                    sub = nil
                } else if after.hasPrefix("."), after.count > 1 {
                    sub = String(after.dropFirst())
                } else {
                    throw SCIMError.make(status: 400, scimType: "invalidPath", "'\(text)' is not an attribute path")
                }
            } else {
                let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
                guard (1...2).contains(parts.count) else { throw SCIMError.make(status: 400, scimType: "invalidPath", "'\(text)' is not an attribute path") }
                attribute = String(parts[0])
                filter = nil
                sub = parts.count == 2 ? String(parts[1]) : nil
            }
            guard SCIMPath.isAttributePath(attribute), sub.map(SCIMPath.isAttributePath) ?? true else {
                throw SCIMError.make(status: 400, scimType: "invalidPath", "'\(text)' is not an attribute path")
            }
        }
    }
}

/// A SCIM error (RFC 7644 §3.12), rendered by the `.scim` dialect.
enum SCIMError {
    static let schema = "urn:ietf:params:scim:api:messages:2.0:Error"

    static func make(status: Int, scimType: String? = nil, _ detail: String) -> AppError {
        var error = AppError(status: .init(code: status), code: scimType ?? "scim", detail: detail)
        if let scimType { error.members["scimType"] = .string(scimType) }
        return error
    }

    static func invalidSyntax(_ detail: String) -> AppError { SCIMError.make(status: 400, scimType: "invalidSyntax", detail) }
    static func invalidValue(_ detail: String) -> AppError { SCIMError.make(status: 400, scimType: "invalidValue", detail) }
    static func invalidFilter(_ detail: String) -> AppError { SCIMError.make(status: 400, scimType: "invalidFilter", detail) }
    static func uniqueness(_ detail: String) -> AppError { SCIMError.make(status: 409, scimType: "uniqueness", detail) }
    static func notFound(_ what: String) -> AppError { SCIMError.make(status: 404, "\(what) not found") }
}
