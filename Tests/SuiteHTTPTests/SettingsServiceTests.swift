import Foundation
import Hummingbird
import ServiceLifecycle
import SuiteCore
import SuiteHTTP
import SuitePostgres
import SuiteTesting
import Synchronization
import Testing

/// A service with settings of its own and a background worker, as the real services have.
enum GreeterService: SuiteService {
    typealias Context = SuiteContext

    struct Settings: Sendable {
        var greeting: String
        var ticks: Ticks
    }

    final class Ticks: Sendable {
        let count = Mutex(0)
        let stopped = Mutex(false)
    }

    struct Ticker: Service {
        let ticks: Ticks
        func run() async throws {
            while !Task.isShuttingDownGracefully {
                ticks.count.withLock { $0 += 1 }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(20)) }
            }
            ticks.stopped.withLock { $0 = true }
        }
    }

    static let name = "greeter"
    static let defaultPort = 0
    static let defaultSchema = "greeter"
    static let publicPath = "/greeter"
    static var migrations: [Migration] { [] }
    static var openAPIDocument: [UInt8] { [] }
    static func errorDialect(forPath path: String) -> ErrorDialect { .problem() }

    static func loadSettings(_ reader: ConfigReader) throws(ConfigurationError) -> Settings {
        let greeting = try reader.required("GREETER_GREETING")
        guard greeting.count <= 20 else { throw ConfigurationError("GREETER_GREETING", "must be at most 20 characters") }
        return Settings(greeting: greeting, ticks: Ticks())
    }

    static func addRoutes(to router: Router<Context>, dependencies: SuiteDependencies, settings: Settings) async throws {
        router.get("/hello") { _, _ in settings.greeting }
    }

    static func backgroundServices(dependencies: SuiteDependencies, settings: Settings) -> [any Service] {
        [Ticker(ticks: settings.ticks)]
    }
}

@Suite struct ServiceSettingsTests {
    @Test func wrongSettingsAreNamed() {
        let missing = #expect(throws: ConfigurationError.self) { try GreeterService.loadSettings(ConfigReader([:])) }
        #expect(missing?.variable == "GREETER_GREETING")
        let long = #expect(throws: ConfigurationError.self) {
            try GreeterService.loadSettings(ConfigReader(["GREETER_GREETING": String(repeating: "x", count: 21)]))
        }
        #expect(long?.variable == "GREETER_GREETING")
    }

    @Test func routesSeeTheSettingsAndBackgroundWorkRunsAndStops() async throws {
        let settings = try GreeterService.loadSettings(ConfigReader(["GREETER_GREETING": "bonjour"]))
        let port = try FreePort.next()
        let configuration = ServiceConfiguration.forTesting(
            service: "greeter", port: port, database: try await TestPostgres.shared.makeDatabase(schema: "greeter"))
        let built = try await SuiteApplication.build(GreeterService.self, configuration: configuration, settings: settings)
        try await LiveServices.run([built.application], readyURLs: ["http://127.0.0.1:\(port)/health/live"]) {
            #expect(try await send(.GET, "http://127.0.0.1:\(port)/hello").text == "bonjour")
            try await Task.sleep(for: .milliseconds(100))
            #expect(settings.ticks.count.withLock { $0 } > 0)
        }
        #expect(settings.ticks.stopped.withLock { $0 })
    }
}
