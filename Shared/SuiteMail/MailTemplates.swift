import Foundation
import Mustache
public import SuiteCore

/// Mail bodies as Mustache templates, one file per message and locale:
/// `<name>.<locale>.txt` (required: a `Subject:` line, a blank line, the plain-text
/// body) and `<name>.<locale>.html` (optional: the HTML alternative). A service ships
/// built-in templates; the folder in `TEMPLATES_DIR` replaces any of them, file by file,
/// and may add locales, without a rebuild.
///
/// Every template is parsed at start, so a broken override stops the service with one
/// line naming the file, instead of failing the first mail at three in the morning.
public struct MailTemplates: Sendable {
    /// What one template gives: the mail's subject and bodies.
    public struct Rendered: Sendable, Equatable {
        public var subject: String
        public var text: String
        public var html: String?
    }

    /// A parsed file: the subject line (text files) is a template of its own, so a value
    /// with a line break cannot push anything out of it.
    private struct Parsed: Sendable {
        var subject: MustacheTemplate?
        var body: MustacheTemplate
    }

    private let templates: [String: Parsed]
    public let defaultLocale: String

    /// - Parameters:
    ///   - builtIn: file name (`activation.en.txt`) → contents.
    ///   - directory: the operator's folder, read now; its files win over the built-in ones.
    public init(
        builtIn: [String: String], directory: String? = nil, defaultLocale: String = "en", variable: String = "TEMPLATES_DIR"
    ) throws(ConfigurationError) {
        var sources = builtIn
        if let directory, !directory.isEmpty {
            let files: [String]
            do {
                files = try FileManager.default.contentsOfDirectory(atPath: directory)
            } catch {
                throw ConfigurationError(variable, "cannot read the folder \(directory)")
            }
            for file in files where file.hasSuffix(".txt") || file.hasSuffix(".html") {
                guard let data = FileManager.default.contents(atPath: directory + "/" + file) else {
                    throw ConfigurationError(variable, "cannot read \(file)")
                }
                sources[file] = String(decoding: data, as: UTF8.self)
            }
        }
        var templates: [String: Parsed] = [:]
        for (file, source) in sources {
            do {
                if file.hasSuffix(".txt") {
                    // Plain-text parts are not HTML: a link's `&` must stay `&`.
                    var subject: MustacheTemplate?
                    var body = Substring(source)
                    if source.hasPrefix("Subject:") {
                        let end = source.firstIndex(of: "\n") ?? source.endIndex
                        let line = source[source.index(source.startIndex, offsetBy: 8)..<end]
                        subject = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + line.trimmingCharacters(in: .whitespacesAndNewlines))
                        body = end < source.endIndex ? source[source.index(after: end)...] : ""
                        if body.hasPrefix("\r\n") { body = body.dropFirst(2) } else if body.hasPrefix("\n") { body = body.dropFirst() }
                    }
                    templates[file] = Parsed(subject: subject, body: try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + body))
                } else {
                    templates[file] = Parsed(subject: nil, body: try MustacheTemplate(string: source))
                }
            } catch {
                throw ConfigurationError(variable, "template \(file) does not parse: \(error)")
            }
        }
        self.templates = templates
        self.defaultLocale = defaultLocale
    }

    /// The locales to try for `locale`, best first: `es_ES` → `es_ES`, `es`, then the default.
    public func candidates(for locale: String?) -> [String] {
        var result: [String] = []
        if let locale = locale?.trimmingCharacters(in: .whitespaces), !locale.isEmpty {
            result.append(locale)
            let language = String(locale.prefix { $0 != "_" && $0 != "-" })
            if language != locale { result.append(language) }
            let lower = language.lowercased()
            if lower != language { result.append(lower) }
        }
        if !result.contains(defaultLocale) { result.append(defaultLocale) }
        return result
    }

    /// Whether a template `name` exists in some locale (checked at start by services).
    public func has(_ name: String) -> Bool {
        templates["\(name).\(defaultLocale).txt"] != nil
    }

    /// Renders `name` in the best locale available for `locale`.
    public func render(_ name: String, locale: String?, values: [String: String]) throws(TemplateError) -> Rendered {
        guard let chosen = candidates(for: locale).first(where: { templates["\(name).\($0).txt"] != nil }),
            let text = templates["\(name).\(chosen).txt"]
        else { throw TemplateError(name: name) }
        let context = values as [String: Any]
        // A value with a line break must never become a header of its own.
        let subject = (text.subject?.render(context) ?? "")
            .split(whereSeparator: \.isNewline).joined(separator: " ")
            .trimmingCharacters(in: .whitespaces)
        let body = text.body.render(context)
        let html = templates["\(name).\(chosen).html"]?.body.render(context)
        return Rendered(subject: subject, text: body, html: html)
    }

    public struct TemplateError: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "no mail template named \(name)" }
    }
}
