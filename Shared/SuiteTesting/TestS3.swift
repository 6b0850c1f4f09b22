import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real S3-compatible server for tests, with nothing to start by hand: one per test
/// process, `scripts/s3-server.py` (moto's S3 from `.dev/venv`, made by `scripts/venv`,
/// which refuses any request that is not a valid, unexpired presigned URL), with one
/// bucket. Stopped when the process ends, however it ends.
public actor TestS3 {
    public static let shared = TestS3()

    public struct Server: Sendable {
        public let endpoint: String
        public let bucket: String
        public let region: String
        public let accessKeyID: String
        public let secretAccessKey: String
    }

    private var server: Task<Server, any Error>?

    public func running() async throws -> Server {
        if let server { return try await server.value }
        let task = Task<Server, any Error> { try await Self.start() }
        server = task
        return try await task.value
    }

    /// The repository's root, from this file's place in it.
    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    private static func start() async throws -> Server {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("suite-s3-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let python = root + "/.dev/venv/bin/python"
        guard try await Subprocess.run([root + "/scripts/venv"], outputPath: directory + "/venv.out") == 0,
            FileManager.default.isExecutableFile(atPath: python)
        else {
            let text = (try? String(contentsOfFile: directory + "/venv.out", encoding: .utf8)) ?? ""
            throw ClusterError("scripts/venv could not install the test tooling (moto) into .dev/venv: \(text)")
        }
        let port = try FreePort.next()
        let server = Server(
            endpoint: "http://127.0.0.1:\(port)", bucket: "documents", region: "us-east-1",
            accessKeyID: "AKIA" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16)),
            secretAccessKey: UUID().uuidString + UUID().uuidString)
        let pid = try Subprocess.spawn(
            [
                python, root + "/scripts/s3-server.py", "--port", String(port), "--bucket", server.bucket, "--region", server.region,
                "--access-key-id=" + server.accessKeyID, "--secret-access-key=" + server.secretAccessKey,
            ], outputPath: directory + "/server.log")
        // SIGKILL: the server inherits this process's signal mask, in which SIGTERM is blocked.
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; kill -9 \(pid) 2>/dev/null; rm -rf '\(directory)'"
        _ = try? Subprocess.spawn(["/bin/sh", "-c", script], outputPath: "/dev/null")
        for _ in 0..<300 {
            if accepts(port: port) { return server }
            if kill(pid, 0) != 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
        throw ClusterError("the test S3 server did not start: \(log)")
    }

    static func accepts(port: Int) -> Bool {
        FreePort.withLoopbackSocket(port: port) { socketFD, address, length in connect(socketFD, address, length) == 0 }
    }
}
