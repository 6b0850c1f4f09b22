import Foundation
import SuiteCore

/// The policies users must accept before using v2, read from a file in sydent's terms
/// format, so operators keep theirs:
///
/// ```yaml
/// master_version: "1.0"
/// docs:
///   privacy_policy:
///     version: "1.2"
///     langs:
///       en:
///         name: "Privacy Policy"
///         url: "https://example.org/privacy-1.2-en.html"
/// ```
///
/// A user has agreed when, for every document, they accepted the URL of at least one of
/// its languages.
public struct TermsPolicy: Sendable, Equatable {
    public struct Document: Sendable, Equatable {
        public var name: String
        public var version: String
        /// language → (name, url)
        public var languages: [String: (name: String, url: String)]

        public static func == (lhs: Document, rhs: Document) -> Bool {
            lhs.name == rhs.name && lhs.version == rhs.version
                && lhs.languages.mapValues { [$0.name, $0.url] } == rhs.languages.mapValues { [$0.name, $0.url] }
        }
    }

    public var masterVersion: String?
    public var documents: [Document]

    public init(masterVersion: String? = nil, documents: [Document] = []) {
        self.masterVersion = masterVersion
        self.documents = documents
    }

    /// Every URL users may accept.
    var allURLs: Set<String> { Set(documents.flatMap { $0.languages.values.map(\.url) }) }

    /// Whether accepting `urls` covers every document.
    func isSatisfied(by urls: some Collection<String>) -> Bool {
        let accepted = Set(urls)
        return documents.allSatisfy { document in document.languages.values.contains { accepted.contains($0.url) } }
    }

    /// `GET /terms`: `{"policies": {name: {"version": …, lang: {"name", "url"}}}}`.
    var json: JSONValue {
        var policies: [String: JSONValue] = [:]
        for document in documents {
            var entry: [String: JSONValue] = ["version": .string(document.version)]
            for (language, text) in document.languages {
                entry[language] = ["name": .string(text.name), "url": .string(text.url)]
            }
            policies[document.name] = .object(entry)
        }
        return ["policies": .object(policies)]
    }

    static func load(file path: String) throws(ConfigurationError) -> TermsPolicy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("IS_TERMS_FILE", "cannot read \(path)")
        }
        do {
            return try parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw ConfigurationError("IS_TERMS_FILE", "\(path): \(error.message)")
        }
    }

    struct ParseError: Error {
        let message: String
    }

    /// Reads the YAML subset the terms format uses: nested mappings by indentation,
    /// scalars plain or quoted, `#` comments.
    static func parse(_ text: String) throws(ParseError) -> TermsPolicy {
        let tree = try MiniYAML.parse(text)
        guard case .map(let root) = tree else { throw ParseError(message: "the file must be a mapping") }
        var policy = TermsPolicy(masterVersion: root["master_version"]?.scalar)
        guard let docsNode = root["docs"] else { return policy }
        guard case .map(let docs) = docsNode else { throw ParseError(message: "docs must be a mapping") }
        for (name, node) in docs.sorted(by: { $0.key < $1.key }) {
            guard case .map(let doc) = node, let version = doc["version"]?.scalar else {
                throw ParseError(message: "docs.\(name) needs a version")
            }
            guard case .map(let langs)? = doc["langs"], !langs.isEmpty else {
                throw ParseError(message: "docs.\(name) needs langs")
            }
            var languages: [String: (name: String, url: String)] = [:]
            for (language, entry) in langs {
                guard case .map(let fields) = entry, let title = fields["name"]?.scalar, let url = fields["url"]?.scalar,
                    URLComponents(string: url)?.scheme != nil
                else { throw ParseError(message: "docs.\(name).langs.\(language) needs a name and an absolute url") }
                languages[language] = (title, url)
            }
            policy.documents.append(Document(name: name, version: version, languages: languages))
        }
        return policy
    }
}

/// Just enough YAML for configuration files: block mappings and scalars.
enum MiniYAML {
    indirect enum Node {
        case scalar(String)
        case map([String: Node])

        var scalar: String? {
            if case .scalar(let value) = self { return value }
            return nil
        }
    }

    static func parse(_ text: String) throws(TermsPolicy.ParseError) -> Node {
        var lines: [(indent: Int, key: String, value: String?, number: Int)] = []
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = stripComment(String(raw))
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("---") { continue }
            guard !line.contains("\t") else { throw TermsPolicy.ParseError(message: "line \(index + 1): tabs are not allowed") }
            let indent = line.prefix { $0 == " " }.count
            let content = line.dropFirst(indent)
            guard let colon = keyColon(content) else {
                throw TermsPolicy.ParseError(message: "line \(index + 1): expected key: value")
            }
            let key = unquote(String(content[..<colon]).trimmingCharacters(in: .whitespaces))
            let rest = String(content[content.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            lines.append((indent, key, rest.isEmpty ? nil : unquote(rest), index + 1))
        }
        var position = 0
        func block(indent: Int) throws(TermsPolicy.ParseError) -> [String: Node] {
            var map: [String: Node] = [:]
            while position < lines.count, lines[position].indent >= indent {
                let line = lines[position]
                guard line.indent == indent else {
                    throw TermsPolicy.ParseError(message: "line \(line.number): unexpected indentation")
                }
                position += 1
                if let value = line.value {
                    map[line.key] = .scalar(value)
                } else if position < lines.count, lines[position].indent > indent {
                    map[line.key] = .map(try block(indent: lines[position].indent))
                } else {
                    map[line.key] = .scalar("")
                }
            }
            return map
        }
        let root = try block(indent: lines.first?.indent ?? 0)
        if position < lines.count { throw TermsPolicy.ParseError(message: "line \(lines[position].number): unexpected indentation") }
        return .map(root)
    }

    /// The colon ending a key (outside quotes, followed by a space or the end).
    private static func keyColon(_ text: Substring) -> Substring.Index? {
        var quote: Character?
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == ":" {
                let next = text.index(after: index)
                if next == text.endIndex || text[next] == " " { return index }
            }
            index = text.index(after: index)
        }
        return nil
    }

    private static func stripComment(_ line: String) -> String {
        var quote: Character?
        var previous: Character = " "
        for (offset, character) in line.enumerated() {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#", previous == " " {
                return String(line.prefix(offset))
            }
            previous = character
        }
        return line
    }

    private static func unquote(_ text: String) -> String {
        if text.count >= 2, let first = text.first, first == "\"" || first == "'", text.last == first {
            let inner = String(text.dropFirst().dropLast())
            return first == "'" ? inner.replacingOccurrences(of: "''", with: "'") : inner.replacingOccurrences(of: "\\\"", with: "\"")
        }
        return text
    }
}
