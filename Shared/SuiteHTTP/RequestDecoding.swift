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
        for pair in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let name = try decodeFormComponent(pair[..<(equals ?? pair.endIndex)])
            if fields[name] == nil {
                if let equals {
                    fields[name] = try decodeFormComponent(pair[pair.index(after: equals)...])
                } else {
                    fields[name] = ""
                }
            }
        }
        return fields
    }

    private static var formError: AppError {
        AppError.badRequest("The form body is not valid percent-encoded UTF-8.", code: "invalid_body")
    }

    /// One name or value: `+` is a space, `%XX` a byte; the bytes must be UTF-8.
    private static func decodeFormComponent(_ part: Substring.UTF8View.SubSequence) throws(AppError) -> String {
        if !part.contains(UInt8(ascii: "%")) && !part.contains(UInt8(ascii: "+")) { return String(Substring(part)) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(part.count)
        var index = part.startIndex
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        while index < part.endIndex {
            let byte = part[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                let first = part.index(after: index)
                guard first < part.endIndex, part.index(after: first) < part.endIndex, let high = hex(part[first]),
                    let low = hex(part[part.index(after: first)])
                else { throw formError }
                bytes.append(high << 4 | low)
                index = part.index(after: first)
            } else {
                bytes.append(byte)
            }
            index = part.index(after: index)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw formError }
        return text
    }

    /// Whether a Content-Type names JSON: compared as a media type, so parameters such as
    /// `; charset=utf-8` and any letter case are fine, and `+json` types count.
    public static func isJSON(_ contentType: String) -> Bool {
        let media = mediaType(contentType)
        return media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
    }

    /// The media type of a Content-Type value, lowercased, without parameters. Byte by
    /// byte: every JSON or form request asks, and Foundation's trimming went through UTF-16.
    public static func mediaType(_ contentType: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(40)
        for byte in contentType.utf8 {
            if byte == UInt8(ascii: ";") { break }
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { continue }
            bytes.append((UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
