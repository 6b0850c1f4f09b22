import Foundation
public import Hummingbird
import NIOFoundationCompat
import SuiteCore

extension Request {
    /// Reads the body as JSON of type `T`. A body of another media type is a 415, a body
    /// over the service's limit a 413, and JSON that does not fit `T` a 400 that names
    /// the field, in words a client developer can act on.
    public func decodeJSON<T: Decodable>(as type: T.Type, context: some SuiteRequestContext) async throws -> T {
        guard let value = try await decodeJSONIfPresent(as: type, context: context) else {
            throw AppError(status: .badRequest, code: "invalid_body", detail: "The request body is empty; JSON is expected.")
        }
        return value
    }

    /// Like `decodeJSON`, but an empty body is `nil` (for operations whose body is optional).
    public func decodeJSONIfPresent<T: Decodable>(as type: T.Type, context: some SuiteRequestContext) async throws -> T? {
        if let contentType = headers[.contentType], !Self.isJSON(contentType) {
            throw AppError.unsupportedMediaType("The body must be application/json (got \(contentType)).")
        }
        var request = self
        let buffer = try await request.collectBody(upTo: context.bodyLimit)
        if buffer.readableBytes == 0 { return nil }
        do {
            return try JSONDecoder().decode(T.self, from: buffer)
        } catch let error as DecodingError {
            throw AppError(status: .badRequest, code: "invalid_body", detail: AppError.describe(error))
        }
    }

    /// Whether a Content-Type names JSON: compared as a media type, so parameters such as
    /// `; charset=utf-8` and any letter case are fine, and `+json` types count.
    public static func isJSON(_ contentType: String) -> Bool {
        let media = mediaType(contentType)
        return media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
    }

    /// The media type of a Content-Type value, lowercased, without parameters.
    public static func mediaType(_ contentType: String) -> String {
        String(contentType.split(separator: ";", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces).lowercased()
    }
}
