import Foundation
import Hummingbird
import PostgresNIO
import SuiteContracts
import SuiteCore
import SuiteHTTP
import SuitePostgres
import SuiteSigning
import SuiteTesting
import Synchronization

/// A small service built on the suite's bootstrap, to test what every service gets.
enum EchoService: SuiteService {
    typealias Context = SuiteContext

    static let name = "echo"
    static let defaultPort = 0
    static let defaultSchema = "echo"
    static let publicPath = "/echo"
    static let knownUser = "00000000-0000-0000-0000-00000000000a"
    static let refusedUser = "00000000-0000-0000-0000-00000000000b"
    static let garbledUser = "00000000-0000-0000-0000-00000000000c"
    static var migrations: [Migration] {
        [
            Migration(version: 1, name: "notes", sql: "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL UNIQUE);"),
            Migration(version: 2, name: "rate_limits", sql: RateLimiter.tableSQL),
            Migration(version: 3, name: "outbox", sql: LeasedOutbox.tableSQL("echo_outbox", payload: ["body text NOT NULL"])),
        ]
    }
    static let usesRateLimits = true
    static let outboxTables = ["echo_outbox"]
    // Hour-long windows: a fixed window that rolls over mid-test would reset the count.
    static let loginLimit = RateLimit(name: "login-ip", limit: 3, windowSeconds: 3600)
    static let loginEmailLimit = RateLimit(name: "login-email", limit: 5, windowSeconds: 3600)

    static var openAPIDocument: [UInt8] { Array("openapi: 3.1.0\ninfo:\n  title: echo\n".utf8) }

    static func errorDialect(forPath path: String) -> ErrorDialect {
        if path.hasPrefix("/_matrix/") { return .matrix }
        if path == "/token" { return .oauth }
        return .problem()
    }

    struct Note: Codable, ResponseEncodable {
        var body: String
    }

    struct Boom: Error {
        let secret = "password=hunter2"
    }

    static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: NoSettings) async throws {
        router.post("/notes") { request, context -> EditedResponse<Note> in
            let note = try await request.decodeJSON(as: Note.self, context: context)
            try await dependencies.database.query("INSERT INTO notes (body) VALUES (\(note.body))")
            return EditedResponse(status: .created, response: note)
        }
        router.post("/login") { request, _ -> String in
            let ip = request.headers[.init("X-Test-IP")!] ?? "127.0.0.1"
            let email = request.headers[.init("X-Test-Email")!] ?? "a@example.org"
            try await dependencies.rateLimiter.enforce([(loginLimit, ip), (loginEmailLimit, email)])
            return "welcome"
        }
        router.post("/_matrix/login") { _, _ -> String in
            try await dependencies.rateLimiter.enforce([(RateLimit(name: "matrix", limit: 1, windowSeconds: 3600), "k")])
            return "ok"
        }
        router.get("/boom") { _, _ -> String in throw Boom() }
        router.get("/_matrix/thing") { _, _ -> String in throw AppError.notFound("No thing here.") }
        router.post("/token") { _, _ -> String in throw AppError(status: .badRequest, code: "invalid_grant", detail: "Expired code.") }
        router.get("/slow") { _, _ -> String in
            slowRequestsStarted.withLock { $0 += 1 }
            try await Task.sleep(for: .milliseconds(800))
            return "done"
        }

        // Like a statement already with PostgreSQL: it finishes whatever cancellation says.
        router.get("/stubborn") { _, _ -> String in
            await withUnsafeContinuation { (done: UnsafeContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.6) { done.resume() }
            }
            return "finished"
        }

        let internalRoutes = router.group("/internal")
        internalRoutes.group("/scoped")
            .add(middleware: ServiceTokenMiddleware(verifier: dependencies.verifier, scope: "notes:read"))
            .get { _, context in context.serviceCaller?.service ?? "" }
        internalRoutes.group("/echo-headers")
            .add(middleware: ServiceTokenMiddleware(verifier: dependencies.verifier))
            .get { request, _ -> Note in
                let trace = request.headers[.traceparent] ?? ""
                let id = request.headers[.xRequestID] ?? ""
                return Note(body: "\(id) \(trace)")
            }
        internalRoutes.group("/sleep")
            .add(middleware: ServiceTokenMiddleware(verifier: dependencies.verifier))
            .get { _, _ -> String in
                try await Task.sleep(for: .seconds(5))
                return "late"
            }
        internalRoutes.group("/fail")
            .add(middleware: ServiceTokenMiddleware(verifier: dependencies.verifier))
            .get { _, _ -> String in throw Boom() }

        // Poses as user-identity's directory (the tests point that peer here): the answer
        // depends on the id asked about. No token check: what is tested is the caller.
        internalRoutes.get("/users/{id}") { _, context -> Response in
            switch context.parameters.get("id") {
            case EchoService.refusedUser: return Response(status: .badRequest)
            case EchoService.garbledUser: return try .json(["nope": 1])
            case EchoService.knownUser:
                let user = DirectoryUser(id: EchoService.knownUser, email: "ann@example.org", fullname: "Ann", roles: [], isEnabled: true, prototype: false)
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: Array(try JSONEncoder().encode(user)))))
            default: return Response(status: .notFound)
            }
        }
        // A typed call (SuiteContracts' UserByID): the user's email, "none" when not found.
        router.get("/typed/{id}") { _, context -> String in
            let id = try context.parameters.require("id", as: UUID.self)
            return try await dependencies.peers.send(UserByID(id: id), requestID: context.requestID)?.email ?? "none"
        }

        // Calls a peer's internal route and says what came back.
        router.get("/call/{peer}") { request, context -> Response in
            let peer = try context.parameters.require("peer")
            let path = request.uri.queryParameters["path"].map(String.init) ?? "/internal/ping"
            let answer = try await dependencies.peers.send(
                .GET, to: peer, path: path, scope: "", requestID: context.requestID, traceParent: context.traceParent)
            return Response(
                status: .init(code: answer.status), headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
        }
    }
}

/// An echo service running on a free port against a fresh database.
struct RunningEcho {
    let url: String
    let key: Ed25519SigningKey
    let built: BuiltService<EchoService>

    static func make(
        database: DatabaseConfiguration? = nil, bodyLimit: Int = 1 << 20, internalTimeout: Duration = .seconds(10),
        extraPeers: [String: String] = [:], posingAs: [String] = [], rateLimits: RateLimitSettings = RateLimitSettings(),
        requestTimeout: Duration = .seconds(30), shutdownGrace: Duration = .zero
    ) async throws -> RunningEcho {
        let port = try FreePort.next()
        let key = Ed25519SigningKey.generate()
        let url = "http://127.0.0.1:\(port)"
        var chosen = database
        if chosen == nil { chosen = try await TestPostgres.shared.makeDatabase(schema: "echo") }
        var configuration = ServiceConfiguration.forTesting(
            service: "echo", port: port,
            database: chosen!,
            signingKey: key,
            trust: ServiceTrust(issuers: ["echo": .jwks(url: url + "/internal/jwks.json")]),
            peers: ["echo": url].merging(extraPeers) { $1 }.merging(posingAs.map { ($0, url) }) { $1 },
            bodyLimit: bodyLimit, internalTimeout: internalTimeout, requestTimeout: requestTimeout, rateLimits: rateLimits)
        configuration.shutdownGrace = shutdownGrace
        let built = try await SuiteApplication.build(EchoService.self, configuration: configuration)
        return RunningEcho(url: url, key: key, built: built)
    }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await LiveServices.run([built.application], readyURLs: [url + "/health/live"], body)
    }

    func token(scope: String = "", audience: String = "echo") async throws -> String {
        try await built.dependencies.signer.mint(audience: audience, scope: scope, issuedAt: Int(Date().timeIntervalSince1970))
    }
}

/// How many `/slow` requests the echo service has begun: a test waits for its request to
/// be in flight before it shuts the service down.
let slowRequestsStarted = Mutex(0)
