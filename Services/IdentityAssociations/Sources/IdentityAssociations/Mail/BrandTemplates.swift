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
        var context: [String: String] = [:]
        context.reserveCapacity(values.count * 3)
        for (name, value) in values {
            let line = value.contains(where: \.isNewline) ? value.split(whereSeparator: \.isNewline).joined(separator: " ") : value
            context[name] = line
            context[name + "_forhtml"] = Self.escapeHTML(line)
            context[name + "_forurl"] = Self.escapeURL(line)
        }
        return template.render(context)
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
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    private static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)

    /// Percent-encodes everything but RFC 3986's unreserved characters (Python's
    /// `urllib.parse.quote(value, safe="")`).
    static func escapeURL(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            if unreserved.contains(byte) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
