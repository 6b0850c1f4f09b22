import Foundation
import SuiteCore
import SuiteHTTP

/// Where users' documents are kept and what they may be (`UAI_S3_*`, `UAI_DOCUMENT_*`).
public struct DocumentSettings: Sendable, Equatable {
    /// Nil: the document operations answer 503 (storage not configured).
    public var storage: ObjectStorage.Settings?
    /// `GET /documents/types`, and what `documentType` may be.
    public var types: [String]
    /// What `filetype` an upload may declare.
    public var contentTypes: Set<String>
    /// How long an upload URL works.
    public var uploadTTL: Int
    /// Download URLs: `expires` when the caller gives none, and the most it may ask for.
    public var defaultDownloadTTL: Int
    public var maxDownloadTTL: Int

    public static let seedTypes = ["id_front", "id_back", "proof_of_income", "proof_of_income_additional", "proof_of_occupation"]

    public init(
        storage: ObjectStorage.Settings? = nil, types: [String] = Self.seedTypes,
        contentTypes: Set<String> = ["image/png", "image/jpeg", "image/webp", "image/heic", "application/pdf"], uploadTTL: Int = 300,
        defaultDownloadTTL: Int = 120, maxDownloadTTL: Int = 3_600
    ) {
        self.storage = storage
        self.types = types
        self.contentTypes = contentTypes
        self.uploadTTL = uploadTTL
        self.defaultDownloadTTL = defaultDownloadTTL
        self.maxDownloadTTL = maxDownloadTTL
    }

    static func load(_ reader: ConfigReader) throws(ConfigurationError) -> DocumentSettings {
        func list(_ name: String, default value: [String]) throws(ConfigurationError) -> [String] {
            guard let text = try reader.string(name) else { return value }
            return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        let types = try list("UAI_DOCUMENT_TYPES", default: seedTypes)
        if let bad = types.first(where: { !Document.isTypeName($0) }) {
            throw ConfigurationError("UAI_DOCUMENT_TYPES", "\"\(bad)\" is not a type name (1 to 64 letters, digits or '_')")
        }
        let contentTypes = try list("UAI_DOCUMENT_CONTENT_TYPES", default: Array(DocumentSettings().contentTypes))
        if let bad = contentTypes.first(where: { !Document.isMediaType($0) }) {
            throw ConfigurationError("UAI_DOCUMENT_CONTENT_TYPES", "\"\(bad)\" is not a media type such as image/png")
        }
        let maxDownload = try reader.int("UAI_DOCUMENT_MAX_DOWNLOAD_TTL_SECONDS", default: 3_600, range: 1...604_800)
        return DocumentSettings(
            storage: try ObjectStorage.Settings.load(reader, prefix: "UAI"), types: types, contentTypes: Set(contentTypes.map { $0.lowercased() }),
            uploadTTL: try reader.int("UAI_DOCUMENT_UPLOAD_TTL_SECONDS", default: 300, range: 10...3_600),
            defaultDownloadTTL: try reader.int("UAI_DOCUMENT_DOWNLOAD_TTL_SECONDS", default: 120, range: 1...maxDownload),
            maxDownloadTTL: maxDownload)
    }
}

/// A file a user uploaded to the bucket and saved as one of their documents.
struct Document: Sendable {
    let id: UUID
    let userID: UUID
    let filePath: String
    let documentType: String
    let uploadedAt: Date

    /// As the seed lists them: `uploadedAt` is `2022-09-07 11:57:15` (UTC).
    var json: JSONValue {
        .object([
            "id": .string(id.uuidString.lowercased()), "userId": .string(userID.uuidString.lowercased()), "filePath": .string(filePath),
            "uploadedAt": .string(Timestamp.plain(uploadedAt)), "documentType": .string(documentType),
        ])
    }

    /// Keys are `<user id>/<uuid>`: a user can only save what was uploaded under their
    /// own prefix.
    static func newKey(owner: UUID) -> String {
        owner.uuidString.lowercased() + "/" + UUID().uuidString.lowercased()
    }

    /// The owner a key belongs to, when it is one of ours: `<uuid>/<name>`, a name of
    /// 1 to 200 letters, digits, `-`, `_` or `.` (no `..`, no further `/`).
    static func owner(ofKey key: String) -> UUID? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let owner = UUID(uuidString: String(parts[0])), isFileName(parts[1]) else { return nil }
        return owner
    }

    static func isFileName(_ name: Substring) -> Bool {
        (1...200).contains(name.utf8.count) && name != "." && !name.contains("..")
            && name.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }

    static func isTypeName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) }
    }

    /// `type/subtype`, RFC 6838's restricted names.
    static func isMediaType(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2
            && parts.allSatisfy { part in
                (1...127).contains(part.utf8.count)
                    && part.utf8.allSatisfy { byte in
                        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                            || "!#$&-^_.+".utf8.contains(byte)
                    }
            }
    }
}
