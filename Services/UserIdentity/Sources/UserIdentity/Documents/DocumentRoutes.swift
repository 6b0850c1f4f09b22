import Foundation
import Hummingbird
import SuiteCore
import SuiteHTTP

/// Users' documents in an S3-compatible bucket. Files never pass through the service:
/// a user uploads with a presigned PUT under their own prefix, then saves the key;
/// document managers download with presigned GETs.
struct DocumentRoutes {
    let core: Core
    var documents: DocumentStore { DocumentStore(database: core.database, logger: core.logger) }
    var settings: DocumentSettings { core.settings.documents }

    static let managers = [Role.admin, Role.documentManager]
    static let uploadsByUser = RateLimit(name: "document-upload-user", limit: 60, windowSeconds: 3_600)

    struct UploadRequest: Decodable {
        var filetype: String?
    }

    struct SaveRequest: Decodable {
        var filePath: String?
        var documentType: String?
    }

    func add(to router: Router<UAIContext>, access: RouteAccess) {
        access.open(router) {
            router.get("/documents/types") { _, _ in try Response.json(settings.types) }
        }
        let signedIn = router.group().add(middleware: core.tokens.authenticator)
        signedIn.post("/me/documents/upload-url") { request, context in try await uploadURL(request, context) }
        signedIn.post("/me/documents") { request, context in try await save(request, context) }
        // One parameter name at one place (the router refuses two): the document's id, or
        // the owner's in `…/{filename}/download-url`.
        signedIn.get("/documents/:id/download") { request, context -> Response in
            _ = try await core.caller(context, anyOf: Self.managers)
            let expires = try expiry(request)
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)), let document = try await documents.find(id)
            else { throw Problem.notFound() }
            return try Response.json(["signedDownloadUrl": try storage().downloadURL(key: document.filePath, expires: expires)])
        }
        signedIn.get("/documents/:id/:filename/download-url") { request, context -> Response in
            _ = try await core.caller(context, anyOf: Self.managers)
            let expires = try expiry(request)
            let owner = try core.userID(context)
            guard let name = context.parameters.get("filename"), Document.isFileName(Substring(name)),
                let document = try await documents.find(path: owner.uuidString.lowercased() + "/" + name)
            else { throw Problem.notFound() }
            return try Response.json(["signedDownloadUrl": try storage().downloadURL(key: document.filePath, expires: expires)])
        }
        signedIn.delete("/documents/:id") { _, context -> Response in
            let caller = try await core.activeCaller(context)
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)),
                try await documents.unlink(id, owner: caller.roles.contains(Role.admin) ? nil : UUID(uuidString: caller.user_id))
            else { throw Problem.notFound() }
            return Core.noContent()
        }
        signedIn.get("/:userId/documents") { request, context in try await list(request, context) }
    }

    func storage() throws(AppError) -> ObjectStorage {
        guard let storage = core.storage else {
            throw AppError.unavailable("Document storage is not configured here (UAI_S3_ENDPOINT).")
        }
        return storage
    }

    /// `expires` in seconds, 1 to the configured most; the default when absent.
    func expiry(_ request: Request) throws(AppError) -> Int {
        guard let text = request.uri.queryParameters["expires"].map(String.init), !text.isEmpty else { return settings.defaultDownloadTTL }
        guard let seconds = Int(text), (1...settings.maxDownloadTTL).contains(seconds) else {
            throw Problem.invalid("expires", "notBetween", "The input is not between '1' and '\(settings.maxDownloadTTL)', inclusively")
        }
        return seconds
    }

    func uploadURL(_ request: Request, _ context: UAIContext) async throws -> Response {
        let caller = try await core.activeCaller(context)
        let input = try await request.decodeJSON(as: UploadRequest.self, context: context)
        var validator = Validator()
        let filetype = validator.required(input.filetype?.trimmingCharacters(in: .whitespaces).lowercased(), field: "filetype")
        if let filetype, !settings.contentTypes.contains(filetype) {
            validator.messages.add(
                "filetype", "fileTypeNotAllowed", "The file type must be one of: \(settings.contentTypes.sorted().joined(separator: ", "))")
        }
        try validator.checkSeed()
        guard let filetype, let owner = UUID(uuidString: caller.user_id) else { throw Problem.unprocessable(validator.messages) }
        let storage = try storage()
        try await core.rateLimiter.enforce([(Self.uploadsByUser, caller.user_id)])
        let key = Document.newKey(owner: owner)
        return try Response.json([
            "signedUploadUrl": storage.uploadURL(key: key, contentType: filetype, expires: settings.uploadTTL), "filePath": key,
        ])
    }

    func save(_ request: Request, _ context: UAIContext) async throws -> Response {
        let caller = try await core.activeCaller(context)
        let input = try await request.decodeJSON(as: SaveRequest.self, context: context)
        var validator = Validator()
        // The seed's example quotes the path ("'abcde/fghi'"): the quotes are not part of it.
        let path = validator.required(
            input.filePath?.trimmingCharacters(in: CharacterSet(charactersIn: "'\" ")), field: "filePath")
        let type = validator.required(input.documentType, field: "documentType")
        if let type, !settings.types.contains(type) {
            validator.messages.add("documentType", "notInArray", "The input was not found in the haystack")
        }
        if let path, Document.owner(ofKey: path)?.uuidString.lowercased() != caller.user_id.lowercased() {
            validator.messages.add("filePath", "notOwnFile", "The file was not uploaded by you")
        }
        try validator.checkSeed()
        guard let path, let type, let owner = UUID(uuidString: caller.user_id) else { throw Problem.unprocessable(validator.messages) }
        guard try await storage().exists(key: path, logger: context.logger) else {
            throw Problem.invalid("filePath", "fileNotFound", "No file was uploaded at this path")
        }
        let document = try await core.transaction { connection -> Document? in
            guard let document = try await documents.save(owner: owner, path: path, type: type, on: connection) else { return nil }
            try await EventStore.record(
                "DocumentWasSaved",
                ["userId": .string(caller.user_id), "documentId": .string(document.id.uuidString.lowercased()), "documentType": .string(type)],
                on: connection, logger: core.logger)
            return document
        }
        guard let document else { throw Problem.conflict("filePath", "documentAlreadySaved", "This file is saved already") }
        var response = try Response.json([String: String](), status: .created)
        response.headers[.location] = core.location("/documents/\(document.id.uuidString.lowercased())/download")
        return response
    }

    func list(_ request: Request, _ context: UAIContext) async throws -> Response {
        _ = try await core.caller(context, anyOf: Self.managers)
        let owner = try core.userID(context, "userId")
        let query = request.uri.queryParameters
        let page = try PageRequest.parse(
            page: query["page"].map(String.init), size: query["itemsPerPage"].map(String.init), sizeParameter: "itemsPerPage",
            defaultSize: 25, maxSize: 100)
        let found = try await documents.list(owner: owner, page: page)
        let pages = max(1, (found.total + page.size - 1) / page.size)
        func href(_ number: Int) -> JSONValue {
            .object(["href": .string("/\(owner.uuidString.lowercased())/documents?page=\(number)")])
        }
        var links: [String: JSONValue] = ["self": href(page.page), "first": href(1), "last": href(pages)]
        if page.page < pages { links["next"] = href(page.page + 1) }
        if page.page > 1 { links["prev"] = href(min(page.page - 1, pages)) }
        return Response.json(
            .object([
                "count": .number(Double(found.documents.count)), "total": .number(Double(found.total)), "_links": .object(links),
                "_embedded": .object(["documents": .array(found.documents.map(\.json))]),
            ]))
    }
}
