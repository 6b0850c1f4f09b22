import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import SuiteCore
import SuitePostgres
import SuiteSigning

/// Where a homeserver's federation API lives, found as the Matrix server-server spec
/// says ("Resolving server names"), as sydent's federation agent finds it:
/// 1. an IP literal or an explicit port is used as it is;
/// 2. else `https://<name>/.well-known/matrix/server` may delegate to another host (and
///    port: used as it is);
/// 3. else the DNS SRV records `_matrix-fed._tcp.<host>`, then the deprecated
///    `_matrix._tcp.<host>`, of the delegated host (or of the name without delegation)
///    say which machine and port to connect to, while the `Host` header and the TLS
///    certificate stay the host's;
/// 4. else port 8448.
/// `IS_HOMESERVER_BASE_URL` replaces all of this for a single-homeserver deployment or a
/// test's fake.
///
/// Resolutions are remembered for an hour (a failed delegation for ten minutes), as the
/// spec allows; this is a copy of public DNS-like facts, not shared state.
final class HomeserverResolver: Sendable {
    /// One request to a homeserver: status and body (at most 64 KiB). `connectTo`, when
    /// set, is the machine to connect to in place of the URL's host (an SRV target).
    typealias Fetch = @Sendable (_ request: HTTPClientRequest, _ connectTo: String?) async throws -> (UInt, ByteBuffer)
    typealias ServiceLookup = @Sendable (String) async -> [ServiceRecord]

    let override: String?
    let transport: Fetch
    let serviceRecords: ServiceLookup
    private let remembered = ReadMostly<[String: (base: String, until: Date)]>([:])
    /// SRV targets by the base URL they stand behind (`https://host:port`).
    private let targets = ReadMostly<[String: String]>([:])

    init(override: String?, fetch: @escaping Fetch, serviceRecords: @escaping ServiceLookup = { await DNSServiceRecords.lookup($0) }) {
        self.override = override
        self.transport = fetch
        self.serviceRecords = serviceRecords
    }

    convenience init(settings: IdentitySettings, http: HTTPClient) {
        self.init(override: settings.homeserverBaseURL, fetch: Self.fetcher(http: http, verifyTLS: settings.homeserverVerifyTLS))
    }

    /// Requests through the shared client. With `IS_HOMESERVER_VERIFY_TLS=false`, or to
    /// reach an SRV target, through a client of its own for the one request (homeserver
    /// calls are rare): one that accepts any certificate, or one that connects to the
    /// target while asking for and checking the host's certificate. Never follows
    /// redirects.
    static func fetcher(http: HTTPClient, verifyTLS: Bool) -> Fetch {
        { request, connectTo in
            if verifyTLS, connectTo == nil {
                let response = try await http.execute(request, timeout: .seconds(10))
                return (response.status.code, try await response.body.collect(upTo: 64 * 1024))
            }
            var configuration = HTTPClient.Configuration()
            configuration.tlsConfiguration = .makeClientConfiguration()
            if !verifyTLS { configuration.tlsConfiguration?.certificateVerification = .none }
            configuration.redirectConfiguration = .disallow
            if let connectTo, let host = URLComponents(string: request.url)?.host { configuration.dnsOverride = [host: connectTo] }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            do {
                let response = try await client.execute(request, timeout: .seconds(10))
                let body = try await response.body.collect(upTo: 64 * 1024)
                try await client.shutdown()
                return (response.status.code, body)
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }

    /// Sends `request` to the homeserver its URL names, by way of the SRV target that
    /// resolution found for it, if any (with the host, without port, as `Host`).
    func fetch(_ request: HTTPClientRequest) async throws -> (UInt, ByteBuffer) {
        guard let url = URLComponents(string: request.url), let host = url.host, let port = url.port,
            let target = targets.read({ $0["https://\(host):\(port)"] })
        else { return try await transport(request, nil) }
        var request = request
        request.headers.replaceOrAdd(name: "Host", value: host)
        return try await transport(request, target)
    }

    /// The base URL (`https://host:port`) of `serverName`'s federation API.
    func baseURL(for serverName: String, logger: Logger) async -> String {
        if let override { return override }
        let (host, port) = Self.split(serverName)
        if port != nil || Self.isIPLiteral(host) { return "https://\(host):\(port ?? 8448)" }
        let now = Date()
        if let known = remembered.read({ $0[serverName] }), known.until > now { return known.base }
        var lifetime: TimeInterval = 600
        var named = host
        if let delegated = await wellKnown(serverName, logger: logger) {
            lifetime = 3600
            let (delegatedHost, delegatedPort) = Self.split(delegated)
            named = delegatedHost
            if delegatedPort != nil || Self.isIPLiteral(delegatedHost) {
                return remember(serverName, base: "https://\(delegatedHost):\(delegatedPort ?? 8448)", target: nil, until: now + lifetime)
            }
        }
        // Both questions at once: a slow name server costs its timeout once.
        async let current = serviceRecords("_matrix-fed._tcp." + named)
        async let deprecated = serviceRecords("_matrix._tcp." + named)
        for records in [await current, await deprecated] {
            if let record = DNSServiceRecords.ordered(records).first {
                logger.debug("homeserver SRV", metadata: ["server": "\(serverName)", "target": "\(record.target):\(record.port)"])
                return remember(serverName, base: "https://\(named):\(record.port)", target: record.target, until: now + 3600)
            }
        }
        return remember(serverName, base: "https://\(named):8448", target: nil, until: now + lifetime)
    }

    private func remember(_ serverName: String, base: String, target: String?, until: Date) -> String {
        remembered.write { entries in
            if entries.count >= 10_000 { entries.removeAll(keepingCapacity: true) }
            entries[serverName] = (base, until)
        }
        targets.write { targets in
            if targets.count >= 10_000 { targets.removeAll(keepingCapacity: true) }
            targets[base] = target
        }
        return base
    }

    /// `m.server` of the name's `.well-known/matrix/server`, when it is a valid server name.
    private func wellKnown(_ serverName: String, logger: Logger) async -> String? {
        var request = HTTPClientRequest(url: "https://\(serverName)/.well-known/matrix/server")
        request.headers.add(name: "Accept", value: "application/json")
        guard let (status, body) = try? await transport(request, nil), status == 200,
            let value = try? JSONParser.parse(Array(buffer: body)), case .string(let delegated)? = value["m.server"],
            Accounts.isServerName(delegated)
        else { return nil }
        logger.debug("homeserver delegated", metadata: ["server": "\(serverName)", "to": "\(delegated)"])
        return delegated
    }

    /// Host and port of a server name (`host`, `host:port`, `[v6]:port`).
    static func split(_ name: String) -> (host: String, port: Int?) {
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return (name, nil) }
            let host = String(name[...close])
            let rest = name[name.index(after: close)...]
            return (host, rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        guard let colon = name.lastIndex(of: ":") else { return (name, nil) }
        return (String(name[..<colon]), Int(name[name.index(after: colon)...]))
    }

    static func isIPLiteral(_ host: String) -> Bool {
        if host.hasPrefix("[") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in UInt8(part) != nil }
    }
}

/// Bind notifications (`3pid/onbind`) wait in `onbind_outbox`, written in the bind's
/// transaction, and go out from `OnBindWorker`: the homeserver learns of the binding and
/// its pending invites even if it is down at the moment, retried with backoff.
enum OnBindOutbox {
    static let tableSQL = LeasedOutbox.tableSQL("onbind_outbox", payload: ["server text NOT NULL", "body text NOT NULL"])
}

/// Delivers the due bind notifications; run every half second by a `Periodic`.
struct OnBindWorker: Sendable {
    let database: PostgresClient
    let resolver: HomeserverResolver
    let logger: Logger
    var observer: (any OutboxObserver)?

    @discardableResult
    func deliverDue() async throws -> Int {
        let outbox = LeasedOutbox(
            table: "onbind_outbox", payload: "server, body", database: database, logger: logger, maxAttempts: 10, baseBackoffSeconds: 2,
            observer: observer)
        return try await outbox.deliverEach({ (try $0[0].decode(String.self), try $0[1].decode(String.self)) }) { notice in
            try await notify(server: notice.0, body: notice.1)
        }
    }

    /// POSTs one notification. 4xx other than 429 will not get better by retrying: the
    /// homeserver refused it, which is logged and not retried.
    private func notify(server: String, body: String) async throws {
        let base = await resolver.baseURL(for: server, logger: logger)
        var request = HTTPClientRequest(url: base + "/_matrix/federation/v1/3pid/onbind")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let (status, _) = try await resolver.fetch(request)
        if status >= 500 || status == 429 { throw DeliveryError(description: "homeserver answered \(status)") }
        if status >= 400 { logger.warning("homeserver refused onbind", metadata: ["server": "\(server)", "status": "\(status)"]) }
    }
}

/// Requests a homeserver signed (`Authorization: X-Matrix origin=…,key="…",sig="…"`), as
/// Synapse signs the `3pid/unbind` it sends when a user removes an address: the JSON
/// `{method, uri, origin, destination_is: <this server's name>, content}` signed with a
/// key the origin publishes at `/_matrix/key/v2/server` (self-signed, fetched through
/// the resolver and remembered until its `valid_until_ts`, an hour at most).
final class ServerRequestVerifier: Sendable {
    let resolver: HomeserverResolver
    let serverName: String
    private let keys = ReadMostly<[String: (key: Curve25519.Signing.PublicKey, until: Date)]>([:])

    init(resolver: HomeserverResolver, serverName: String) {
        self.resolver = resolver
        self.serverName = serverName
    }

    static let unauthorized = Matrix.error(.unauthorized, "M_UNAUTHORIZED", "The homeserver's signature on this request does not verify")

    /// Whether the request carries a homeserver's signature at all.
    static func isSigned(_ request: Request) -> Bool {
        request.headers[.authorization]?.hasPrefix("X-Matrix ") == true
    }

    /// The server that signed `request` with `content` as its body; 401 when the header is
    /// malformed or the signature does not verify with the origin's published key.
    func origin(of request: Request, content: JSONValue, logger: Logger) async throws -> String {
        guard let header = request.headers[.authorization], header.hasPrefix("X-Matrix ") else { throw Self.unauthorized }
        var fields: [String: String] = [:]
        for part in header.dropFirst(9).split(separator: ",") {
            guard let equals = part.firstIndex(of: "=") else { continue }
            let name = part[..<equals].trimmingCharacters(in: .whitespaces)
            var value = part[part.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            fields[name] = value
        }
        guard let origin = fields["origin"], Accounts.isServerName(origin), let keyID = fields["key"], keyID.hasPrefix("ed25519:"),
            let signature = fields["sig"]
        else { throw Self.unauthorized }
        if let destination = fields["destination"], destination != serverName { throw Self.unauthorized }
        guard let key = await key(origin: origin, keyID: keyID, logger: logger) else {
            throw Matrix.error(.unauthorized, "M_UNAUTHORIZED", "No key \(keyID.prefix(64)) of \(origin) could be fetched")
        }
        var signed: [String: JSONValue] = [
            "method": .string(request.method.rawValue), "uri": .string(request.uri.description), "origin": .string(origin),
            "signatures": [origin: [keyID: .string(signature)]],
        ]
        if content != .object([:]) { signed["content"] = content }
        // Synapse names this server `destination_is`; the server-server spec's `destination`.
        var asSynapse = signed
        asSynapse["destination_is"] = .string(serverName)
        var asSpec = signed
        asSpec["destination"] = .string(serverName)
        guard Matrix.verify(asSynapse, server: origin, keyID: keyID, publicKey: key)
            || Matrix.verify(asSpec, server: origin, keyID: keyID, publicKey: key)
        else { throw Self.unauthorized }
        return origin
    }

    private func key(origin: String, keyID: String, logger: Logger) async -> Curve25519.Signing.PublicKey? {
        let name = origin + " " + keyID
        let now = Date()
        if let known = keys.read({ $0[name] }), known.until > now { return known.key }
        var request = HTTPClientRequest(url: await resolver.baseURL(for: origin, logger: logger) + "/_matrix/key/v2/server")
        request.headers.add(name: "Accept", value: "application/json")
        guard let (status, body) = try? await resolver.fetch(request), status == 200,
            case .object(let document)? = try? JSONParser.parse(Array(buffer: body)), document["server_name"] == .string(origin),
            let text = document["verify_keys"]?[keyID]?["key"]?.stringValue, let raw = Base64URL.decode(text),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw),
            Matrix.verify(document, server: origin, keyID: keyID, publicKey: key),
            let validUntil = document["valid_until_ts"]?.intValue, Double(validUntil) / 1000 > now.timeIntervalSince1970
        else {
            logger.warning("homeserver key not fetched", metadata: ["origin": "\(origin)", "key": "\(keyID.prefix(64))"])
            return nil
        }
        let until = min(Date(timeIntervalSince1970: Double(validUntil) / 1000), now.addingTimeInterval(3600))
        keys.write { entries in
            if entries.count >= 10_000 { entries.removeAll(keepingCapacity: true) }
            entries[name] = (key, until)
        }
        return key
    }
}
