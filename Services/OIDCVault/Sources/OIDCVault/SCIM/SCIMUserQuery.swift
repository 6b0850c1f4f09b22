import Foundation
import PostgresNIO
import SuiteCore

/// A SCIM user filter as a `WHERE` over the users table, so a list reads what it shows
/// instead of every user of the tenant.
///
/// What maps to a column is translated: `id`, `userName`, `externalId` (every operator),
/// `active`, `meta.created`, `meta.lastModified` and `emails` (eq, co, sw, ew), with
/// `and`, `or`, `not` and `pr`.
/// A translation is *exact* when SQL decides alone, and then the page and the total
/// come from SQL. Otherwise it is a *superset*: SQL narrows the candidates and
/// `SCIMFilter.matches` decides on them (emails, kept as the client sent them; a date
/// compared within a millisecond of its rendering; an attribute SQL does not know, such
/// as `name.givenName`, beside a translated one under `and`). A filter with nothing to translate reads every user, as before.
struct SCIMUserQuery {
    struct Fragment: Equatable {
        var sql: String
        var exact: Bool

        /// No condition: the tenant's users, for the matcher to decide on.
        static let everyone = Fragment(sql: "TRUE", exact: false)
    }

    /// `$1` is the tenant, then the condition's values.
    private(set) var binds = PostgresBindings()
    private var placeholders = 1
    /// The condition for the filter (nil: no condition helps), made with the binds it
    /// refers to, so a statement never gets one without the other.
    /// Invariant: a nil condition appended no bind.
    private(set) var condition: Fragment?

    init(tenant: String, filter: SCIMFilter?) {
        binds.append(tenant)
        if let filter { condition = translate(filter) } else { condition = Fragment(sql: "TRUE", exact: true) }
    }

    /// The condition, or every user of the tenant for the matcher to decide on.
    var selecting: Fragment { condition ?? .everyone }

    private mutating func bind(_ value: some PostgresNonThrowingEncodable) -> String {
        binds.append(value)
        placeholders += 1
        return "$\(placeholders)"
    }

    private mutating func translate(_ filter: SCIMFilter) -> Fragment? {
        let saved = (binds, placeholders)
        func restore() { (binds, placeholders) = saved }
        switch filter {
        case .and(let left, let right):
            switch (translate(left), translate(right)) {
            case (nil, nil): return nil
            case (let one?, nil), (nil, let one?): return Fragment(sql: one.sql, exact: false)
            case (let a?, let b?): return Fragment(sql: "(\(a.sql) AND \(b.sql))", exact: a.exact && b.exact)
            }
        case .or(let left, let right):
            guard let a = translate(left), let b = translate(right) else {
                restore()
                return nil
            }
            return Fragment(sql: "(\(a.sql) OR \(b.sql))", exact: a.exact && b.exact)
        case .not(let inner):
            // The negation of a superset is not a superset of the negation.
            guard let a = translate(inner), a.exact else {
                restore()
                return nil
            }
            return Fragment(sql: "NOT \(a.sql)", exact: true)
        case .present(let path):
            switch Self.attribute(path) {
            // Always there and never empty.
            case .text("user_id", _, _), .text("username", _, _), .instant: return Fragment(sql: "TRUE", exact: true)
            case .text(let column, _, nullable: true): return Fragment(sql: "(\(column) IS NOT NULL AND \(column) <> '')", exact: true)
            case .text, .emails: return nil
            // Unassigned `active` is absent; only a disabled user surely shows it.
            case .active: return Fragment(sql: "TRUE", exact: false)
            case nil: return nil
            }
        case .compare(let path, let op, let literal):
            return compare(path, op, literal)
        case .valuePath:
            return nil
        }
    }

    private enum Attribute {
        case text(String, caseExact: Bool, nullable: Bool)
        case instant(String)
        case active
        /// The user's email, and the emails the client sent (kept as jsonb).
        case emails
    }

    private static func attribute(_ path: SCIMPath) -> Attribute? {
        switch path.parts.map({ $0.lowercased() }) {
        case ["id"]: .text("user_id", caseExact: true, nullable: false)
        case ["username"]: .text("username", caseExact: false, nullable: false)
        case ["externalid"]: .text("external_id", caseExact: true, nullable: true)
        case ["active"]: .active
        case ["meta", "created"]: .instant("created_at")
        case ["meta", "lastmodified"]: .instant("updated_at")
        case ["emails"], ["emails", "value"]: .emails
        default: nil
        }
    }

    private mutating func compare(_ path: SCIMPath, _ op: SCIMFilter.Operator, _ literal: JSONValue) -> Fragment? {
        switch (Self.attribute(path), literal) {
        case (.text(let column, let caseExact, let nullable), .string(let text)):
            // Two instants compare as instants, not as text: leave that to the matcher.
            guard SCIMFilter.instant(text) == nil else { return nil }
            let value = bind(text)
            let left = caseExact ? column : "lower(\(column))", right = caseExact ? value : "lower(\(value))"
            let condition =
                switch op {
                case .eq: "\(left) = \(right)"
                case .ne: "\(left) <> \(right)"
                case .co: "strpos(\(left), \(right)) > 0"
                case .sw where column == "username" && !text.isEmpty && text.utf8.allSatisfy({ $0 < 0x80 }):
                    // A prefix the index on lower(username) COLLATE "C" serves: every name
                    // starting with p lies in [p, p with its last character's successor),
                    // both worked out by PostgreSQL from lower(p), so they match lower()
                    // whatever the locale. Statements are planned once for any value, so
                    // starts_with alone cannot use an index; the range can. Only for an
                    // ASCII prefix, whose lowered last character always has a successor.
                    """
                    starts_with(\(left), \(right)) AND \(left) COLLATE "C" >= \(right) COLLATE "C" \
                    AND \(left) COLLATE "C" < (left(\(right), -1) || chr(ascii(right(\(right), 1)) + 1)) COLLATE "C"
                    """
                case .sw: "starts_with(\(left), \(right))"
                case .ew: "right(\(left), length(\(right))) = \(right)"
                // Code point order, as Swift compares strings.
                case .gt: "\(left) COLLATE \"C\" > \(right)"
                case .ge: "\(left) COLLATE \"C\" >= \(right)"
                case .lt: "\(left) COLLATE \"C\" < \(right)"
                case .le: "\(left) COLLATE \"C\" <= \(right)"
                }
            // An absent attribute matches no comparison, not even `ne`.
            return Fragment(sql: nullable ? "(\(column) IS NOT NULL AND \(condition))" : "(\(condition))", exact: true)
        case (.instant(let column), .string(let text)):
            guard let seconds = SCIMFilter.instant(text), op != .co, op != .sw, op != .ew else { return nil }
            // The resource shows the instant to the millisecond: a superset a millisecond
            // wide on each side, the matcher decides on the edge.
            let low = Date(timeIntervalSince1970: seconds - 0.002), high = Date(timeIntervalSince1970: seconds + 0.002)
            let condition =
                switch op {
                case .eq: "\(column) BETWEEN \(bind(low)) AND \(bind(high))"
                case .gt, .ge: "\(column) >= \(bind(low))"
                case .lt, .le: "\(column) <= \(bind(high))"
                case .ne, .co, .sw, .ew: "TRUE"
                }
            return Fragment(sql: "(\(condition))", exact: false)
        case (.emails, .string(let text)):
            // An email equal to, starting, ending with or holding the text holds it, and so
            // does the column or the kept JSON's text, where a text without a character
            // JSON escapes appears as it is.
            guard [.eq, .co, .sw, .ew].contains(op), SCIMFilter.instant(text) == nil,
                !text.unicodeScalars.contains(where: { $0 == "\"" || $0 == "\\" || $0.value < 0x20 })
            else { return nil }
            let value = bind(text)
            return Fragment(
                sql: "(strpos(lower(email), lower(\(value))) > 0 OR strpos(lower(coalesce(scim_attributes->>'emails', '')), lower(\(value))) > 0)",
                exact: false)
        case (.active, .bool(let wanted)):
            switch op {
            // A disabled user always shows `active: false`; an enabled one shows `true`
            // unless the client left it unassigned.
            case .eq: return wanted ? Fragment(sql: "NOT is_disabled", exact: false) : Fragment(sql: "is_disabled", exact: true)
            case .ne: return wanted ? Fragment(sql: "is_disabled", exact: true) : Fragment(sql: "NOT is_disabled", exact: false)
            default: return Fragment(sql: "FALSE", exact: true)
            }
        default:
            return nil
        }
    }
}
