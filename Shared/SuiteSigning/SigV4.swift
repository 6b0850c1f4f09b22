import Crypto
public import Foundation
import SuiteCore

/// AWS Signature Version 4 (the `AWS4-HMAC-SHA256` scheme every S3-compatible store
/// accepts), small and dependency-free beyond swift-crypto. `presignedURL` makes the
/// query-signed URLs a browser uploads to and downloads from; `signature` is the
/// primitive, checked against AWS's published test vectors.
public struct SigV4: Sendable {
    public let accessKeyID: String
    let secretAccessKey: String
    public let region: String
    public let service: String

    public init(accessKeyID: String, secretAccessKey: String, region: String, service: String = "s3") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.region = region
        self.service = service
    }

    /// The payload hash a presigned URL signs: the body is not known in advance.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// A URL that lets whoever holds it send `method` to `path` on `origin` (scheme, host
    /// and port, no trailing slash) until `expires` seconds after `date`. `headers` are
    /// signed too (besides `host`): the client must send them with exactly these values,
    /// which is how an upload's `Content-Type` is pinned.
    public func presignedURL(
        method: String, origin: String, path: String, expires: Int, headers: [(String, String)] = [], date: Date = Date()
    ) -> String {
        let host = Self.host(ofOrigin: origin)
        let signedHeaders = ([("host", host)] + headers.map { ($0.0.lowercased(), $0.1) }).sorted { $0.0 < $1.0 }
        let stamp = Self.timestamp(date)
        let query = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "\(accessKeyID)/\(scope(day: String(stamp.prefix(8))))"),
            ("X-Amz-Date", stamp),
            ("X-Amz-Expires", String(expires)),
            ("X-Amz-SignedHeaders", signedHeaders.map(\.0).joined(separator: ";")),
        ]
        let signature = signature(
            method: method, path: path, query: query, headers: signedHeaders, payloadHash: Self.unsignedPayload, timestamp: stamp)
        return origin + Self.canonicalPath(path) + "?" + Self.canonicalQuery(query) + "&X-Amz-Signature=" + signature
    }

    /// The hex signature of a request: its canonical form (RFC 3986 encoded path and
    /// sorted query, lower-cased sorted headers, the payload's hash), the string to sign
    /// for `timestamp` (`YYYYMMDD'T'HHMMSS'Z'`), and the key derived for its day, region
    /// and service.
    public func signature(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String, timestamp: String
    ) -> String {
        let sortedHeaders = headers.map { ($0.0.lowercased(), Self.trimmed($0.1)) }.sorted { $0.0 < $1.0 }
        let canonicalRequest = [
            method,
            Self.canonicalPath(path),
            Self.canonicalQuery(query),
            sortedHeaders.map { "\($0.0):\($0.1)\n" }.joined(),
            sortedHeaders.map(\.0).joined(separator: ";"),
            payloadHash,
        ].joined(separator: "\n")
        let day = String(timestamp.prefix(8))
        let stringToSign = [
            "AWS4-HMAC-SHA256", timestamp, scope(day: day), SecureRandom.hexString(SHA256.hash(data: Data(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        var key = SymmetricKey(data: Data(("AWS4" + secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return SecureRandom.hexString(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
    }

    func scope(day: String) -> String { "\(day)/\(region)/\(service)/aws4_request" }

    /// `20130524T000000Z`, in UTC.
    public static func timestamp(_ date: Date) -> String {
        String(Timestamp.plain(date).compactMap { $0 == "-" || $0 == ":" ? nil : $0 == " " ? "T" : $0 }) + "Z"
    }

    /// S3 paths are encoded once, slashes kept.
    static func canonicalPath(_ path: String) -> String {
        path.isEmpty ? "/" : Percent.encode(path.hasPrefix("/") ? path : "/" + path, keepSlash: true)
    }

    static func canonicalQuery(_ query: [(String, String)]) -> String {
        let pairs: [(String, String)] = query.map { (Percent.encode($0.0), Percent.encode($0.1)) }
        let sorted = pairs.sorted { left, right in left.0 == right.0 ? left.1 < right.1 : left.0 < right.0 }
        return sorted.map { $0.0 + "=" + $0.1 }.joined(separator: "&")
    }

    static func trimmed(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// `host[:port]` of `scheme://host[:port]`, the port left out when it is the scheme's.
    static func host(ofOrigin origin: String) -> String {
        guard let components = URLComponents(string: origin), let host = components.host else { return origin }
        guard let port = components.port else { return host }
        let defaultPort = components.scheme == "https" ? 443 : 80
        return port == defaultPort ? host : host + ":" + String(port)
    }
}
