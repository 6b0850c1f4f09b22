import Foundation
import SuiteCore
import Yams

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

    /// Reads the file with Yams (libyaml): any YAML 1.1 a person writes, escapes, flow
    /// mappings, folded and literal blocks and anchors included. Scalars are read as
    /// written, so `version: 1.10` stays "1.10".
    static func parse(_ text: String) throws(ParseError) -> TermsPolicy {
        let tree: Node?
        do {
            tree = try Yams.compose(yaml: text)
        } catch {
            throw ParseError(message: "not YAML: \(error)")
        }
        guard let root = tree?.mapping else { throw ParseError(message: "the file must be a mapping") }
        var policy = TermsPolicy(masterVersion: root["master_version"]?.string)
        guard let docsNode = root["docs"] else { return policy }
        guard let docs = docsNode.mapping else { throw ParseError(message: "docs must be a mapping") }
        for (nameNode, node) in docs {
            guard let name = nameNode.string else { throw ParseError(message: "docs must be named by text") }
            guard let document = node.mapping, let version = document["version"]?.string else {
                throw ParseError(message: "docs.\(name) needs a version")
            }
            guard let langs = document["langs"]?.mapping, !langs.isEmpty else {
                throw ParseError(message: "docs.\(name) needs langs")
            }
            var languages: [String: (name: String, url: String)] = [:]
            for (languageNode, entry) in langs {
                guard let language = languageNode.string else { throw ParseError(message: "docs.\(name).langs must be named by language") }
                guard let fields = entry.mapping, let title = fields["name"]?.string, let url = fields["url"]?.string,
                    URLComponents(string: url)?.scheme != nil
                else { throw ParseError(message: "docs.\(name).langs.\(language) needs a name and an absolute url") }
                languages[language] = (title, url)
            }
            policy.documents.append(Document(name: name, version: version, languages: languages))
        }
        policy.documents.sort { $0.name < $1.name }
        return policy
    }
}
