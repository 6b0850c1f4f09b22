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

    /// Reads an `application/x-www-form-urlencoded` body: `+` is a space, `%XX` a byte;
    /// a repeated name keeps its first value. A body that is not valid UTF-8 once decoded
    /// is a 400.
    public func decodeForm(context: some SuiteRequestContext) async throws -> [String: String] {
        var request = self
        let buffer = try await request.collectBody(upTo: context.bodyLimit)
        return try Self.parseForm(String(buffer: buffer))
    }

    public static func parseForm(_ text: String) throws(AppError) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) throws(AppError) -> String {
                guard let value = part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                    throw AppError.badRequest("The form body is not valid percent-encoded UTF-8.", code: "invalid_body")
                }
                return value
            }
            let name = try decode(parts[0])
            if fields[name] == nil { fields[name] = parts.count > 1 ? try decode(parts[1]) : "" }
        }
        return fields
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
