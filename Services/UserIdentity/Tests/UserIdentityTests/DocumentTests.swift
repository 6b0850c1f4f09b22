import Foundation
import SuiteCore
import SuiteHTTP
import SuiteTesting
import Testing

@testable import UserIdentity

/// Documents against a real S3-compatible server (moto, behind a check of every
/// presigned URL's signature and expiry): a file goes up through the upload URL and
/// comes down through the download URL, byte for byte, and every way around that fails.
@Suite struct DocumentTests {
    static func storage() async throws -> ObjectStorage.Settings {
        let server = try await TestS3.shared.running()
        return ObjectStorage.Settings(
            endpoint: server.endpoint, bucket: server.bucket, region: server.region, accessKeyID: server.accessKeyID,
            secretAccessKey: server.secretAccessKey)
    }

    static func run(_ body: @Sendable @escaping (UAI) async throws -> Void) async throws {
        let storage = try await storage()
        try await UAI.run(configure: { $0.documents.storage = storage }, body)
    }

    /// Asks for an upload URL and puts `bytes` there; the key.
    static func upload(_ uai: UAI, token: String, bytes: [UInt8] = Array("%PNG fake image".utf8)) async throws -> String {
        let answer = try await uai.call(.POST, "/me/documents/upload-url", json: ["filetype": "image/png"], token: token)
        #expect(answer.status == 200, "\(answer.text)")
        let url = try #require(answer.json?["signedUploadUrl"]?.stringValue)
        let put = try await uai.client.send(.PUT, url, headers: [("Content-Type", "image/png")], body: bytes)
        #expect(put.status == 200, "\(put.text)")
        return try #require(answer.json?["filePath"]?.stringValue)
    }

    @Test func aFileGoesUpIsSavedAndComesDownForADocumentManager() async throws {
        try await Self.run { uai in
            let ann = try await uai.user("ann@example.com")
            try await uai.user("manager@example.com", roles: [Role.documentManager])
            let token = try await uai.login("ann@example.com").access
            let manager = try await uai.login("manager@example.com").access

            let answer = try await uai.call(.POST, "/me/documents/upload-url", json: ["filetype": "image/png"], token: token)
            let key = try #require(answer.json?["filePath"]?.stringValue)
            #expect(key.hasPrefix(ann.uuidString.lowercased() + "/"))
            let url = try #require(answer.json?["signedUploadUrl"]?.stringValue)
            // The content type is part of the signature: another one is refused by the store.
            let wrongType = try await uai.client.send(.PUT, url, headers: [("Content-Type", "image/jpeg")], body: [1, 2, 3])
            #expect(wrongType.status == 403 && wrongType.text.contains("SignatureDoesNotMatch"))
            let bytes = Array("%PNG the scan of an id card".utf8)
            #expect(try await uai.client.send(.PUT, url, headers: [("Content-Type", "image/png")], body: bytes).status == 200)

            let saved = try await uai.call(.POST, "/me/documents", json: ["filePath": .string(key), "documentType": "id_front"], token: token)
            #expect(saved.status == 201 && saved.json == [:], "\(saved.text)")
            #expect(try await uai.count("SELECT count(*)::int FROM domain_events WHERE type_name = 'DocumentWasSaved'") == 1)
            let again = try await uai.call(.POST, "/me/documents", json: ["filePath": .string(key), "documentType": "id_back"], token: token)
            #expect(again.status == 409)

            let list = try await uai.call(.GET, "/\(ann.uuidString.lowercased())/documents", token: manager)
            #expect(list.status == 200 && list.json?["count"] == 1 && list.json?["total"] == 1, "\(list.text)")
            #expect(list.json?["_links"]?["self"]?["href"] == .string("/\(ann.uuidString.lowercased())/documents?page=1"))
            let item = try #require(list.json?["_embedded"]?["documents"]?.arrayValue?.first)
            #expect(item["filePath"] == .string(key) && item["documentType"] == "id_front" && item["userId"] == .string(ann.uuidString.lowercased()))
            #expect((item["uploadedAt"]?.stringValue ?? "").count == 19)
            let id = try #require(item["id"]?.stringValue)

            let download = try await uai.call(.GET, "/documents/\(id)/download?expires=60", token: manager)
            let downloadURL = try #require(download.json?["signedDownloadUrl"]?.stringValue, "\(download.text)")
            #expect(downloadURL.contains("X-Amz-Expires=60"))
            let file = try await uai.client.send(.GET, downloadURL)
            #expect(file.status == 200 && file.body == bytes)
            // One character of the signature changed, or another key under the same signature: refused.
            let tampered = String(downloadURL.dropLast()) + (downloadURL.hasSuffix("0") ? "1" : "0")
            #expect(try await uai.client.send(.GET, tampered).status == 403)
            #expect(try await uai.client.send(.GET, downloadURL.replacingOccurrences(of: key, with: key + "x")).status == 403)

            let name = String(key.split(separator: "/")[1])
            let byPath = try await uai.call(.GET, "/documents/\(ann.uuidString.lowercased())/\(name)/download-url", token: manager)
            let byPathURL = try #require(byPath.json?["signedDownloadUrl"]?.stringValue, "\(byPath.text)")
            #expect(byPathURL.contains("X-Amz-Expires=120"), "the default expiry")
            #expect(try await uai.client.send(.GET, byPathURL).body == bytes)
        }
    }

    @Test func anExpiredURLIsRefusedByTheStore() async throws {
        let settings = try await Self.storage()
        try await Self.run { uai in
            try await uai.user("ann@example.com")
            let key = try await Self.upload(uai, token: try await uai.login("ann@example.com").access)
            let http = InternalClient.makeHTTPClient()
            let storage = ObjectStorage(settings: settings, http: http)
            let fresh = storage.downloadURL(key: key, expires: 60)
            #expect(try await uai.client.send(.GET, fresh).status == 200)
            let expired = storage.downloadURL(key: key, expires: 60, date: Date().addingTimeInterval(-120))
            let refused = try await uai.client.send(.GET, expired)
            #expect(refused.status == 403 && refused.text.contains("Request has expired"))
            try await http.shutdown()
        }
    }

    @Test func onlyYourOwnUploadedFilesCanBeSaved() async throws {
        try await Self.run { uai in
            try await uai.user("ann@example.com")
            let bob = try await uai.user("bob@example.com")
            let ann = try await uai.login("ann@example.com").access
            let bobs = try await Self.upload(uai, token: try await uai.login("bob@example.com").access)

            func save(_ body: JSONValue, token: String? = ann) async throws -> TestResponse {
                try await uai.call(.POST, "/me/documents", json: body, token: token)
            }
            let foreign = try await save(["filePath": .string(bobs), "documentType": "id_front"])
            #expect(foreign.status == 422 && foreign.json?["validationMessages"]?["filePath"]?["notOwnFile"] != nil, "\(foreign.text)")
            let own = try await Self.upload(uai, token: ann)
            let missing = try await save(["filePath": .string(String(own.dropLast(4)) + "0000"), "documentType": "id_front"])
            #expect(missing.status == 422 && missing.json?["validationMessages"]?["filePath"]?["fileNotFound"] != nil, "\(missing.text)")
            let escape = try await save(["filePath": .string(own.split(separator: "/")[0] + "/../\(bob.uuidString.lowercased())/x"), "documentType": "id_front"])
            #expect(escape.status == 422)
            let type = try await save(["filePath": .string(own), "documentType": "passport_photo"])
            #expect(type.status == 422 && type.json?["validationMessages"]?["documentType"] != nil)
            let empty = try await save([:])
            #expect(empty.status == 422 && empty.json?["validationMessages"]?["filePath"] != nil && empty.json?["validationMessages"]?["documentType"] != nil)
            #expect(try await save(["filePath": .string(own), "documentType": "id_front"], token: nil).status == 401)
            // The seed's example quotes the path; the quotes are not part of it.
            #expect(try await save(["filePath": .string("'\(own)'"), "documentType": "id_front"]).status == 201)
            #expect(try await uai.count("SELECT count(*)::int FROM documents") == 1)

            let filetype = try await uai.call(.POST, "/me/documents/upload-url", json: ["filetype": "application/x-msdownload"], token: ann)
            #expect(filetype.status == 422 && filetype.json?["validationMessages"]?["filetype"] != nil)
            #expect(try await uai.call(.POST, "/me/documents/upload-url", json: [:], token: ann).status == 422)
            #expect(try await uai.call(.POST, "/me/documents/upload-url", json: ["filetype": "image/png"]).status == 401)
        }
    }

    @Test func onlyManagersReadDocumentsAndOwnersOrAdminsUnlinkThem() async throws {
        try await Self.run { uai in
            let ann = try await uai.user("ann@example.com")
            try await uai.user("bob@example.com")
            try await uai.user("admin@example.com", roles: [Role.admin])
            try await uai.user("employee@example.com", roles: [Role.employee])
            let token = try await uai.login("ann@example.com").access
            let bob = try await uai.login("bob@example.com").access
            let admin = try await uai.login("admin@example.com").access
            let employee = try await uai.login("employee@example.com").access
            for key in [try await Self.upload(uai, token: token), try await Self.upload(uai, token: token)] {
                #expect(try await uai.call(.POST, "/me/documents", json: ["filePath": .string(key), "documentType": "id_back"], token: token).status == 201)
            }
            let owner = ann.uuidString.lowercased()
            let ids = try await uai.call(.GET, "/\(owner)/documents", token: admin).json?["_embedded"]?["documents"]?.arrayValue?
                .compactMap { $0["id"]?.stringValue } ?? []
            #expect(ids.count == 2)

            // Neither the owner nor another role reads documents through these routes.
            for caller in [token, employee] {
                #expect(try await uai.call(.GET, "/\(owner)/documents", token: caller).status == 403)
                #expect(try await uai.call(.GET, "/documents/\(ids[0])/download", token: caller).status == 403)
            }
            #expect(try await uai.call(.GET, "/\(owner)/documents").status == 401)
            #expect(try await uai.call(.GET, "/documents/\(UUID())/download", token: admin).status == 404)
            #expect(try await uai.call(.GET, "/documents/not-a-uuid/download", token: admin).status == 404)
            #expect(try await uai.call(.GET, "/documents/\(owner)/nothing-here/download-url", token: admin).status == 404)
            for expires in ["0", "3601", "soon"] {
                let bad = try await uai.call(.GET, "/documents/\(ids[0])/download?expires=\(expires)", token: admin)
                #expect(bad.status == 422 && bad.json?["validationMessages"]?["expires"] != nil, "\(expires)")
            }
            let paged = try await uai.call(.GET, "/\(owner)/documents?page=2&itemsPerPage=1", token: admin)
            #expect(paged.json?["count"] == 1 && paged.json?["total"] == 2 && paged.json?["_links"]?["prev"] != nil)

            // Someone else's document is not found for them; the owner and an admin unlink.
            #expect(try await uai.call(.DELETE, "/documents/\(ids[0])", token: bob).status == 404)
            #expect(try await uai.call(.DELETE, "/documents/\(ids[0])", token: token).status == 204)
            #expect(try await uai.call(.DELETE, "/documents/\(ids[0])", token: token).status == 404)
            #expect(try await uai.call(.DELETE, "/documents/\(ids[1])", token: admin).status == 204)
            #expect(try await uai.call(.GET, "/documents/\(ids[1])/download", token: admin).status == 404)
            #expect(try await uai.call(.GET, "/\(owner)/documents", token: admin).json?["total"] == 0)
        }
    }

    @Test func typesArePublicAndAStoreThatIsDownIsA503() async throws {
        let down = ObjectStorage.Settings(
            endpoint: "http://127.0.0.1:\(try FreePort.next())", bucket: "documents", accessKeyID: "AKIAEXAMPLE", secretAccessKey: "secret")
        try await UAI.run(configure: { $0.documents.storage = down }) { uai in
            let types = try await uai.call(.GET, "/documents/types")
            #expect(types.status == 200 && types.json == .array(DocumentSettings.seedTypes.map(JSONValue.string)))
            let ann = try await uai.user("ann@example.com")
            let token = try await uai.login("ann@example.com").access
            let save = try await uai.call(
                .POST, "/me/documents", json: ["filePath": .string(ann.uuidString.lowercased() + "/file"), "documentType": "id_front"], token: token)
            #expect(save.status == 503 && save.header("Content-Type") == "application/problem+json", "\(save.text)")
            #expect(try await uai.count("SELECT count(*)::int FROM documents") == 0)
        }
        try await UAI.run { uai in
            try await uai.user("ann@example.com")
            let token = try await uai.login("ann@example.com").access
            let unconfigured = try await uai.call(.POST, "/me/documents/upload-url", json: ["filetype": "image/png"], token: token)
            #expect(unconfigured.status == 503 && unconfigured.text.contains("UAI_S3_ENDPOINT"))
        }
    }
}
