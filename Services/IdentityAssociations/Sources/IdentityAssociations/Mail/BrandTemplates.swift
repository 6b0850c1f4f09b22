import Foundation
import Mustache
public import SuiteCore
import SuiteMail

/// sydent-compatible templates: one folder per brand under `TEMPLATES_DIR`
/// (`TEMPLATES_DIR/<brand>/verification_template.eml`), with sydent's file and variable
/// names, rendered with Mustache (`{{link}}` where sydent wrote `%(link)s`). An `.eml`
/// template is the whole message, headers included, sent as rendered with its line
/// endings made CRLF. A brand folder may hold only some files: the others come from the
/// built-in brand.
///
/// Values are inserted as they are (the templates are not HTML-escaped as a whole);
/// like sydent, every value also exists as `<name>_forhtml` (HTML-escaped) and
/// `<name>_forurl` (percent-encoded), and a value never holds a line break, so it cannot
/// add a header.
public struct BrandTemplates: Sendable {
    static let fileNames = ["verification_template.eml", "invite_template.eml", "verify_response_template.html"]
    static let builtIn: [String: String] = [
        "verification_template.eml": String(decoding: PackageResources.verification_template_eml, as: UTF8.self),
        "invite_template.eml": String(decoding: PackageResources.invite_template_eml, as: UTF8.self),
        "verify_response_template.html": String(decoding: PackageResources.verify_response_template_html, as: UTF8.self),
    ]

    /// A parsed template. Most use nothing but `{{name}}` tags; those are also kept as
    /// literal runs and names and rendered by concatenation, which gives what Mustache
    /// gives for them (no escaping here) at a fraction of the cost on the request path.
    struct Parsed: Sendable {
        var mustache: MustacheTemplate
        var simple: [Segment]?

        enum Segment: Sendable {
            case text(String)
            case variable(String)
        }

        init(_ source: String) throws {
            mustache = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + source)
            simple = Self.segments(source)
        }

        func render(_ context: [String: String]) -> String {
            guard let simple else { return mustache.render(context as [String: Any]) }
            var out = ""
            out.reserveCapacity(4096)
            for segment in simple {
                switch segment {
                case .text(let text): out += text
                case .variable(let name): out += context[name] ?? ""
                }
            }
            return out
        }

        /// The segments of a template whose only tags are `{{name}}` / `{{{name}}}` with
        /// plain names; nil for anything else (sections, partials, comments, delimiters).
        static func segments(_ source: String) -> [Segment]? {
            var segments: [Segment] = []
            var rest = Substring(source)
            while let open = rest.range(of: "{{") {
                segments.append(.text(String(rest[..<open.lowerBound])))
                var after = rest[open.upperBound...]
                let triple = after.hasPrefix("{")
                if triple { after = after.dropFirst() }
                guard let close = after.range(of: triple ? "}}}" : "}}") else { return nil }
                let name = after[..<close.lowerBound].trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else { return nil }
                segments.append(.variable(name))
                rest = after[close.upperBound...]
            }
            segments.append(.text(String(rest)))
            return segments
        }
    }

    private let brands: [String: [String: Parsed]]
    public let defaultBrand: String

    public init(defaultBrand: String, directory: String? = nil) throws(ConfigurationError) {
        var sources: [String: [String: String]] = ["default": Self.builtIn]
        if let directory, !directory.isEmpty {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for brand in entries where Self.isBrandName(brand) {
                var isFolder: ObjCBool = false
                let folder = directory + "/" + brand
                guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else { continue }
                var files = sources[brand] ?? Self.builtIn
                for file in Self.fileNames {
                    if let data = FileManager.default.contents(atPath: folder + "/" + file) {
                        files[file] = String(decoding: data, as: UTF8.self)
                    }
                }
                sources[brand] = files
            }
        }
        var brands: [String: [String: Parsed]] = [:]
        for (brand, files) in sources {
            for (file, source) in files {
                do {
                    brands[brand, default: [:]][file] = try Parsed(source)
                } catch {
                    throw ConfigurationError("TEMPLATES_DIR", "template \(brand)/\(file) does not parse: \(error)")
                }
            }
        }
        guard brands[defaultBrand] != nil else {
            throw ConfigurationError("IS_DEFAULT_BRAND", "no template folder named \(defaultBrand) (have \(brands.keys.sorted().joined(separator: ", ")))")
        }
        self.brands = brands
        self.defaultBrand = defaultBrand
    }

    /// The brand a request asked for when it exists, else the default: a `brand`
    /// parameter never reaches the file system.
    public func brand(_ requested: String?) -> String {
        guard let requested, brands[requested] != nil else { return defaultBrand }
        return requested
    }

    public var names: [String] { brands.keys.sorted() }

    static func isBrandName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && !name.hasPrefix(".")
            && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }
    }

    /// Renders `file` of `brand` with `values` and their `_forhtml`/`_forurl` forms.
    func render(_ file: String, brand: String, values: [String: String]) -> String {
        let template = brands[brand]?[file] ?? brands[defaultBrand]![file]!
        if let segments = template.simple {
            // Only the forms the template names are made.
            var out = ""
            out.reserveCapacity(4096)
            for segment in segments {
                switch segment {
                case .text(let text): out += text
                case .variable(let name): out += Self.value(name, in: values)
                }
            }
            return out
        }
        var context: [String: String] = [:]
        context.reserveCapacity(values.count * 3)
        for (name, value) in values {
            let line = Self.oneLine(value)
            context[name] = line
            context[name + "_forhtml"] = Self.escapeHTML(line)
            context[name + "_forurl"] = Self.escapeURL(line)
        }
        return template.render(context)
    }

    /// `name`, `name_forhtml` or `name_forurl` of `values`; "" when there is none.
    private static func value(_ name: String, in values: [String: String]) -> String {
        if let value = values[name] { return oneLine(value) }
        if name.hasSuffix("_forhtml"), let value = values[String(name.dropLast(8))] { return escapeHTML(oneLine(value)) }
        if name.hasSuffix("_forurl"), let value = values[String(name.dropLast(7))] { return escapeURL(oneLine(value)) }
        return ""
    }

    /// A value cannot add lines (and so headers) to a message.
    private static func oneLine(_ value: String) -> String {
        // Plain ASCII without \n, \v, \f, \r has no line break: skip the Character walk.
        guard value.utf8.contains(where: { (10...13).contains($0) || $0 >= 0x80 }), value.contains(where: \.isNewline) else { return value }
        return value.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// A whole message from an `.eml` template: the standard header values (`date`,
    /// `from`, `to`, `messageid`, `multipart_boundary`) are filled in here.
    func message(_ file: String, brand: String, from: String, to: String, values: [String: String]) -> MailEnvelope {
        var all = values
        let domain = from.split(separator: "@").last.map(String.init) ?? "localhost"
        all["date"] = MailMessage.rfc5322Date(Date())
        all["from"] = from
        all["to"] = to
        all["messageid"] = "<\(SecureRandom.hex(byteCount: 12))@\(domain)>"
        all["multipart_boundary"] = SecureRandom.hex(byteCount: 16)
        let text = render(file, brand: brand, values: all)
        return MailEnvelope(sender: from, recipients: [to], data: Array(text.utf8))
    }

    static func escapeHTML(_ text: String) -> String {
        let special: (UInt8) -> Bool = { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") }
        guard text.utf8.contains(where: special) else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 16)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): out += "&amp;".utf8
            case UInt8(ascii: "<"): out += "&lt;".utf8
            case UInt8(ascii: ">"): out += "&gt;".utf8
            case UInt8(ascii: "\""): out += "&quot;".utf8
            case UInt8(ascii: "'"): out += "&#39;".utf8
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// RFC 3986's unreserved characters, by byte.
    private static let unreserved: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8 { table[Int(byte)] = true }
        return table
    }()

    /// Percent-encodes everything but RFC 3986's unreserved characters (Python's
    /// `urllib.parse.quote(value, safe="")`).
    static func escapeURL(_ text: String) -> String {
        let unreserved = Self.unreserved
        guard text.utf8.contains(where: { !unreserved[Int($0)] }) else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 16)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            if unreserved[Int(byte)] {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
