import Foundation
public import Hummingbird
import NIOCore
public import SuiteCore

extension Response {
    /// `value` as an `application/json` response: one encoder for the whole process
    /// (its settings never change), slashes left unescaped so URLs read as written.
    public static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try sharedEncoder.encode(value))))
    }

    /// A `JSONValue` written by the suite's own writer (sorted keys): several times
    /// cheaper than `JSONEncoder` on hot reads.
    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        json(bytes: CanonicalJSON.bytes(value), status: status)
    }

    /// JSON the caller already wrote.
    public static func json(bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private static let sharedEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
