import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SuitePostgres
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// PostgreSQL for tests, with nothing to start by hand.
///
/// With `TEST_DATABASE_URL` set, databases are made on that server. Otherwise one
/// throwaway cluster is started per test process (`initdb` and `pg_ctl` from the OS, in
/// a temp dir, on a free port, as the `postgres` user when the tests run as root) and
/// removed when the process ends, even if it crashes: a small watchdog process stops
/// the cluster and deletes its directory once the test process is gone.
public actor TestPostgres {
    public static let shared = TestPostgres()

    private var server: Task<Server, any Error>?

    enum Server {
        case external(DatabaseConfiguration)
        case cluster(PostgresCluster)
    }

    /// A fresh, empty database for one suite, with `schema` as its search path.
    public func makeDatabase(schema: String, poolSize: Int = 4) async throws -> DatabaseConfiguration {
        let base: DatabaseConfiguration
        switch try await running() {
        case .external(let configuration): base = configuration
        case .cluster(let cluster): base = cluster.configuration(database: "postgres", schema: schema)
        }
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try await PostgresCluster.execute("CREATE DATABASE \(name)", on: base)
        var configuration = base
        configuration.database = String(name)
        configuration.schema = schema
        configuration.poolSize = poolSize
        return configuration
    }

    private func running() async throws -> Server {
        if let server { return try await server.value }
        let task = Task<Server, any Error> {
            if let url = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"], !url.isEmpty {
                return .external(try DatabaseConfiguration(url: url, schema: "public", poolSize: 4, variable: "TEST_DATABASE_URL"))
            }
            return .cluster(try await PostgresCluster.start())
        }
        server = task
        return try await task.value
    }
}

/// A PostgreSQL cluster of the tests' own, which a test may also stop and start (to
/// see what the services do while the database is down).
public final class PostgresCluster: Sendable {
    public let port: Int
    let directory: String
    let binaries: String
    let runAs: String?

    public var dataDirectory: String { directory + "/data" }

    init(port: Int, directory: String, binaries: String, runAs: String?) {
        self.port = port
        self.directory = directory
        self.binaries = binaries
        self.runAs = runAs
    }

    public func configuration(database: String, schema: String) -> DatabaseConfiguration {
        DatabaseConfiguration(host: "127.0.0.1", port: port, username: "postgres", database: database, schema: schema, poolSize: 4)
    }

    /// Starts a new cluster on a free port.
    public static func start() async throws -> PostgresCluster {
        let binaries = try findBinaries()
        let runAs = geteuid() == 0 ? "postgres" : nil
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("suite-pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let runAs {
            guard let user = getpwnam(runAs) else { throw ClusterError("the tests run as root and there is no \(runAs) user to run PostgreSQL") }
            chown(directory, user.pointee.pw_uid, user.pointee.pw_gid)
        }
        let cluster = PostgresCluster(port: try FreePort.next(), directory: directory, binaries: binaries, runAs: runAs)
        try await cluster.run("initdb", ["-D", cluster.dataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        try await cluster.startServer()
        cluster.startWatchdog()
        return cluster
    }

    /// Starts the server of this cluster (again), waiting until it accepts connections.
    /// Every test's services run at once, each with its own pool (four connections): 300
    /// connections ran out once the suite passed 320 tests, so room for 1,000.
    public func startServer() async throws {
        let options = [
            "-p \(port)", "-k \(directory)", "-c listen_addresses=127.0.0.1", "-c fsync=off",
            "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=1000",
        ].joined(separator: " ")
        try await run("pg_ctl", ["-D", dataDirectory, "-l", directory + "/server.log", "-o", options, "-w", "-t", "60", "start"])
    }

    /// Stops the server at once, as a crash or a network cut would look to clients.
    public func stopServer() async throws {
        try await run("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"])
    }

    /// Stops the server without waiting, for a test's `defer`.
    public func stopServerInBackground() {
        Task { try? await stopServer() }
    }

    static func execute(_ sql: String, on configuration: DatabaseConfiguration) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: .disable),
            id: 1, logger: Logger(label: "test-postgres"))
        defer { Task { try? await connection.close() } }
        _ = try await connection.simpleQuery(sql).get()
    }

    private func run(_ tool: String, _ arguments: [String]) async throws {
        var command = [binaries + "/" + tool] + arguments
        if let runAs { command = ["/usr/sbin/runuser", "-u", runAs, "--"] + command }
        // Output goes to a file, not a pipe: the server pg_ctl starts would inherit a pipe
        // and hold it open.
        let outputPath = directory + "/\(tool).out"
        let status = try await Subprocess.run(command, outputPath: outputPath)
        guard status == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw ClusterError("\(tool) failed (\(status)): \(text)")
        }
    }

    /// Stops and removes the cluster once this process has gone, however it ended.
    private func startWatchdog() {
        let stop = (runAs.map { "runuser -u \($0) -- " } ?? "") + "\(binaries)/pg_ctl -D '\(dataDirectory)' -m immediate stop"
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stop) >/dev/null 2>&1; rm -rf '\(directory)'"
        _ = try? Subprocess.spawn(["/bin/sh", "-c", script], outputPath: "/dev/null")
    }

    /// The newest PostgreSQL server binaries: Debian's versioned directory first, then PATH.
    static func findBinaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/pg_ctl") {
            return "\(root)/\(version)/bin"
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(directory)/pg_ctl"),
                FileManager.default.isExecutableFile(atPath: "\(directory)/initdb")
            {
                return String(directory)
            }
        }
        throw ClusterError("no PostgreSQL server found (initdb/pg_ctl): install the postgresql package or set TEST_DATABASE_URL")
    }
}

struct ClusterError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now, never the same twice in
/// one process. Ports come from below Linux's ephemeral range (32768–60999), so an
/// outgoing connection made meanwhile (to PostgreSQL, to a peer) cannot take the port
/// between this check and the server's bind.
public enum FreePort {
    private static let cursor = Mutex(20_000 + Int(getpid() % 1_200) * 10)

    public static func next() throws -> Int {
        for _ in 0..<2_000 {
            let port = cursor.withLock { value -> Int in
                value = value >= 32_000 ? 20_000 : value + 1
                return value
            }
            if isFree(port) { return port }
        }
        throw ClusterError("no free port between 20000 and 32000")
    }

    private static func isFree(_ port: Int) -> Bool {
        withLoopbackSocket(port: port) { socketFD, address, length in bind(socketFD, address, length) == 0 }
    }

    /// Runs `body` with a new TCP socket and 127.0.0.1:`port`, closing the socket after.
    static func withLoopbackSocket(
        port: Int, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool
    ) -> Bool {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { return false }
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(socketFD, $0, length) }
        }
    }
}

/// Starts programs with posix_spawn and waits with waitpid: Foundation's `Process`
/// does not reap its children reliably when called from Swift concurrency's threads.
enum Subprocess {
    static func spawn(_ command: [String], outputPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process: without it the child (a PostgreSQL server that
        // outlives the test that started it) inherited every socket open at that moment,
        // other tests' listeners and connections among them, and kept them open after
        // their owners closed them. A stopped service's port then still accepted
        // connections nobody would answer, and closed connections never showed their end.
        // (glibc's posix_spawn_file_actions_addclosefrom_np is not visible from Swift.)
        markEveryDescriptorCloseOnExec()
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so a Ctrl-C meant for the tests does not hit the server.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, &attributes, argv, environ)
        guard result == 0 else { throw ClusterError("cannot start \(command[0]): error \(result)") }
        return pid
    }

    /// Waits on a thread of its own: `pg_ctl start -w` and `initdb` take seconds, and a
    /// blocking wait on one of Swift concurrency's threads (two on this machine) stalled
    /// every service of every test running meanwhile.
    /// Sets FD_CLOEXEC on every descriptor above stderr: the process never execs in
    /// place, so only spawned children see the difference.
    static func markEveryDescriptorCloseOnExec() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for name in names {
            guard let fd = Int32(name), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    static func run(_ command: [String], outputPath: String) async throws -> Int32 {
        let pid = try spawn(command, outputPath: outputPath)
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
            }
        }
    }
}
