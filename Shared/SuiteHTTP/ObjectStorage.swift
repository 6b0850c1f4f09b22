public import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
public import SuiteCore
import SuiteSigning

/// One bucket of an S3-compatible store (AWS S3, MinIO, Ceph, moto…), reached by
/// presigned URLs only: clients upload and download straight to the store, and the
/// service itself only asks whether an object is there.
public struct ObjectStorage: Sendable {
    public struct Settings: Sendable, Equatable {
        /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`: no trailing slash.
        public var endpoint: String
        public var bucket: String
        public var region: String
        public var accessKeyID: String
        public var secretAccessKey: String
        /// `https://bucket.s3…/key` (AWS's default) instead of `https://s3…/bucket/key`
        /// (path style, which every S3-compatible server understands).
        public var virtualHosted: Bool

        public init(
            endpoint: String, bucket: String, region: String = "us-east-1", accessKeyID: String, secretAccessKey: String,
            virtualHosted: Bool = false
        ) {
            self.endpoint = endpoint
            self.bucket = bucket
            self.region = region
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.virtualHosted = virtualHosted
        }

        /// `<prefix>_S3_ENDPOINT`, `_BUCKET`, `_REGION`, `_ACCESS_KEY_ID`,
        /// `_SECRET_ACCESS_KEY` (or `_FILE`), `_VIRTUAL_HOSTED`; nil when no endpoint is set.
        public static func load(_ reader: ConfigReader, prefix: String) throws(ConfigurationError) -> Settings? {
            guard let endpoint = try reader.url(prefix + "_S3_ENDPOINT") else { return nil }
            let bucket = try reader.required(prefix + "_S3_BUCKET")
            guard (3...63).contains(bucket.count), bucket.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }) else {
                throw ConfigurationError(prefix + "_S3_BUCKET", "must be a bucket name: 3 to 63 lower-case letters, digits, '-' or '.'")
            }
            return Settings(
                endpoint: endpoint, bucket: bucket, region: try reader.string(prefix + "_S3_REGION", default: "us-east-1"),
                accessKeyID: try reader.required(prefix + "_S3_ACCESS_KEY_ID"),
                secretAccessKey: try reader.required(prefix + "_S3_SECRET_ACCESS_KEY"),
                virtualHosted: try reader.bool(prefix + "_S3_VIRTUAL_HOSTED", default: false))
        }

        public var summary: String { "\(endpoint) bucket \(bucket) (\(region))" }
    }

    public let settings: Settings
    let signer: SigV4
    let http: HTTPClient
    /// The budget of a call to the store (within the request's own deadline).
    let timeout: Duration

    public init(settings: Settings, http: HTTPClient, timeout: Duration = .seconds(5)) {
        self.settings = settings
        self.signer = SigV4(accessKeyID: settings.accessKeyID, secretAccessKey: settings.secretAccessKey, region: settings.region)
        self.http = http
        self.timeout = timeout
    }

    /// The origin and path of `key` in the bucket.
    func location(_ key: String) -> (origin: String, path: String) {
        guard settings.virtualHosted, var components = URLComponents(string: settings.endpoint), let host = components.host else {
            return (settings.endpoint, "/\(settings.bucket)/\(key)")
        }
        components.host = "\(settings.bucket).\(host)"
        return (components.string ?? settings.endpoint, "/\(key)")
    }

    /// A URL to PUT `key` with, valid `expires` seconds; the upload must carry exactly
    /// `contentType`.
    public func uploadURL(key: String, contentType: String, expires: Int, date: Date = Date()) -> String {
        let (origin, path) = location(key)
        return signer.presignedURL(
            method: "PUT", origin: origin, path: path, expires: expires, headers: [("content-type", contentType)], date: date)
    }

    /// A URL to GET `key` with, valid `expires` seconds.
    public func downloadURL(key: String, expires: Int, date: Date = Date()) -> String {
        let (origin, path) = location(key)
        return signer.presignedURL(method: "GET", origin: origin, path: path, expires: expires, date: date)
    }

    /// Whether `key` is in the bucket (a signed HEAD). The store down, slow or refusing
    /// our credentials is a 502/503, never a "no".
    public func exists(key: String, logger: Logger? = nil) async throws(AppError) -> Bool {
        let (origin, path) = location(key)
        var request = HTTPClientRequest(url: signer.presignedURL(method: "HEAD", origin: origin, path: path, expires: 60))
        request.method = .HEAD
        let (status, _) = try await InternalClient.thirdParty(
            request, party: "The document storage", http: http, timeout: timeout, limit: 64 * 1024, logger: logger)
        switch status {
        case 200..<300: return true
        case 404: return false
        default:
            logger?.warning("object storage refused a HEAD", metadata: ["status": "\(status)"])
            throw AppError.badGateway("The document storage answered \(status).")
        }
    }
}
