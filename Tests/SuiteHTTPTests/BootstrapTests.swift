import Foundation
import ServiceLifecycle
import Logging
import SuiteCore
import SuiteHTTP
import SuitePostgres
import SuiteSigning
import SuiteTesting
import Testing

@Suite struct BootstrapTests {
    @Test func healthLiveAndReadyAnswer() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let live = try await send(.GET, echo.url + "/health/live")
            #expect(live.status == 200)
            #expect(live.json == ["status": "ok"])
            let ready = try await send(.GET, echo.url + "/health/ready")
            #expect(ready.status == 200)
            #expect(ready.json?["checks"]?["database"] == "ok")
        }
    }

    @Test func schemaIsMigratedBeforeTheServerAnswers() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let created = try await send(.POST, echo.url + "/notes", headers: [("Content-Type", "application/json")], body: Array(#"{"body":"hi"}"#.utf8))
            #expect(created.status == 201)
            #expect(created.json == ["body": "hi"])
        }
    }

    @Test func everyResponseCarriesARequestId() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let kept = try await send(.GET, echo.url + "/health/live", headers: [("X-Request-Id", "abc-123.x:y")])
            #expect(kept.header("X-Request-Id") == "abc-123.x:y")
            let made = try await send(.GET, echo.url + "/health/live")
            #expect(made.header("X-Request-Id")?.count == 32)
            let replaced = try await send(.GET, echo.url + "/health/live", headers: [("X-Request-Id", "has space")])
            #expect(replaced.header("X-Request-Id")?.count == 32)
            let tooLong = try await send(.GET, echo.url + "/health/live", headers: [("X-Request-Id", String(repeating: "a", count: 129))])
            #expect(tooLong.header("X-Request-Id")?.count == 32)
            let failing = try await send(.GET, echo.url + "/nope", headers: [("X-Request-Id", "trace-me")])
            #expect(failing.header("X-Request-Id") == "trace-me")
        }
    }

    /// nginx keeps upstream connections alive even when it sent `Connection: close`, so the
    /// response must say the connection ends, or the next request can go into a closed one.
    @Test func aRequestAskingToCloseIsAnsweredWithConnectionClose() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let port = try #require(echo.url.split(separator: ":").last.flatMap { Int($0) })
            // Both in one write: the first keeps the connection, the second ends it.
            let answer = try await rawHTTPExchange(port: port, "GET /health/live HTTP/1.1\r\nHost: a\r\n\r\n"
                + "GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").lowercased()
            let responses = answer.components(separatedBy: "http/1.1 ").dropFirst()
            #expect(responses.count == 2)
            #expect(responses.first?.hasPrefix("200") == true)
            #expect(responses.first?.contains("connection: close") == false)
            #expect(responses.last?.hasPrefix("404") == true)
            #expect(responses.last?.contains("connection: close") == true)
        }
    }

    /// Beside requests: the process as Prometheus' own collector names it, each outbox's
    /// depth and age, and the refusals of each rate limit.
    @Test func metricsShowTheProcessTheOutboxesAndRateLimits() async throws {
        let echo = try await RunningEcho.make(rateLimits: RateLimitSettings(enabled: true))
        try await echo.run {
            let database = echo.built.dependencies.database
            try await database.query(
                """
                INSERT INTO echo_outbox (body, created_at, attempts, sent_at, failed_at) VALUES
                ('waiting', now() - interval '90 seconds', 0, NULL, NULL), ('retried', now() - interval '10 seconds', 2, NULL, NULL),
                ('given up', now() - interval '1 hour', 12, NULL, now()), ('sent', now() - interval '2 hours', 1, now(), NULL)
                """)
            for _ in 0..<5 { _ = try await send(.POST, echo.url + "/login", headers: [("X-Test-IP", "10.9.0.1")]) }
            let text = try await send(.GET, echo.url + "/metrics").text
            func value(_ series: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
            }
            #expect(value(#"suite_outbox_pending{outbox="echo_outbox"}"#) == 2, "\(text)")
            #expect(value(#"suite_outbox_retrying{outbox="echo_outbox"}"#) == 1)
            #expect(value(#"suite_outbox_given_up{outbox="echo_outbox"}"#) == 1)
            let age = try #require(value(#"suite_outbox_oldest_pending_age_seconds{outbox="echo_outbox"}"#))
            #expect(age >= 90 && age < 600, "the oldest waiting message, not the given-up one")
            #expect(value(#"suite_rate_limited_total{limit="login-ip"}"#) == 2, "5 logins against a limit of 3")
            let resident = try #require(value("process_resident_memory_bytes"))
            #expect(resident > 1_000_000 && resident < 8_000_000_000)
            #expect(try #require(value("process_open_fds")) > 3 && value("process_max_fds") ?? 0 > 0)
            let started = try #require(value("process_start_time_seconds"))
            #expect(abs(started - Date().timeIntervalSince1970) < 7 * 86_400, "\(started)")
            #expect(value("process_cpu_seconds_total") ?? 0 > 0)

            // A delivery pass: one message goes, one fails and waits for its retry.
            let outbox = LeasedOutbox(
                table: "echo_outbox", payload: "body", database: database, logger: Logger(label: "test"), observer: echo.built.dependencies.metrics)
            let claimed = try await outbox.deliverEach({ try $0[0].decode(String.self) }) { body in
                if body == "retried" { throw CancellationError() }
            }
            #expect(claimed == 2)
            let after = try await send(.GET, echo.url + "/metrics").text
            #expect(after.contains(#"suite_outbox_sent_total{outbox="echo_outbox"} 1"#), "\(after)")
            #expect(after.contains(#"suite_outbox_failures_total{outbox="echo_outbox",outcome="retry"} 1"#))
        }
    }

    /// The pool as PostgreSQL counts this process' connections, and how long a request
    /// arriving now waits for one: the scrape stands in the pool's queue itself.
    @Test func metricsShowThePoolItsConnectionsAndTheWaitForOne() async throws {
        let echo = try await RunningEcho.make(database: try await TestPostgres.shared.makeDatabase(schema: "echo", poolSize: 3))
        try await echo.run {
            let database = echo.built.dependencies.database
            func value(_ text: String, _ series: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
            }
            // One connection holds a transaction while the scrape runs on another.
            let during = try await database.withTransaction(logger: Logger(label: "test")) { connection in
                try await connection.query("SELECT 1", logger: Logger(label: "test"))
                return try await send(.GET, echo.url + "/metrics").text
            }
            #expect(value(during, "suite_db_pool_max_connections") == 3, "\(during)")
            #expect(value(during, #"suite_db_pool_connections{state="in_use"}"#) == 1)
            #expect(value(during, #"suite_db_pool_connections{state="listening"}"#) == 0)
            #expect(try #require(value(during, "suite_db_pool_acquire_seconds")) < 0.5)
            let after = try await send(.GET, echo.url + "/metrics").text
            #expect(value(after, #"suite_db_pool_connections{state="in_use"}"#) == 0, "\(after)")
            #expect(value(after, #"suite_db_pool_connections{state="idle"}"#) ?? 0 >= 1, "the connection that held the transaction")

            // Every connection taken for 0.6 s: the scrape waits in line for one.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask { try await database.withConnection { _ in try await Task.sleep(for: .milliseconds(600)) } }
                }
                try await Task.sleep(for: .milliseconds(150))
                let saturated = try await send(.GET, echo.url + "/metrics").text
                let waited = try #require(value(saturated, "suite_db_pool_acquire_seconds"))
                #expect(waited >= 0.3 && waited < 1, "\(waited)")
                try await group.waitForAll()
            }
        }
    }

    @Test func metricsCountRequestsByRouteAndStatus() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            func liveCount() async throws -> Int {
                let text = try await send(.GET, echo.url + "/metrics").text
                let prefix = #"http_requests_total{method="GET",route="/health/live",status="200"} "#
                return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
            }
            let before = try await liveCount()
            for _ in 0..<3 { _ = try await send(.GET, echo.url + "/health/live") }
            _ = try await send(.GET, echo.url + "/no/such/path/123")
            #expect(try await liveCount() == before + 3)
            let metrics = try await send(.GET, echo.url + "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.header("Content-Type")?.hasPrefix("text/plain") == true)
            #expect(metrics.text.contains(#"route="unmatched",status="404""#))
            #expect(!metrics.text.contains("/no/such/path/123"))
            #expect(metrics.text.contains("http_request_duration_seconds_bucket"))
            #expect(metrics.text.contains(#"suite_build_info{service="echo",version="\#(SuiteVersion.current)"} 1"#), "\(metrics.text.prefix(400))")
        }
    }

    @Test func openAPIAndJWKSAreServed() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let document = try await send(.GET, echo.url + "/openapi.yaml")
            #expect(document.status == 200)
            #expect(document.text.hasPrefix("openapi: 3.1.0"))
            let jwks = try await send(.GET, echo.url + "/internal/jwks.json")
            #expect(jwks.status == 200)
            #expect(jwks.json?["keys"] == [["kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                "kid": .string(echo.key.kid), "x": .string(Base64URL.encode(echo.key.publicKey.rawRepresentation))]])
        }
    }

    @Test func gracefulShutdownLetsInFlightRequestsFinish() async throws {
        let echo = try await RunningEcho.make()
        let group = ServiceGroup(configuration: .init(services: [.init(service: echo.built.application)], gracefulShutdownSignals: [], logger: Logger(label: "t")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await LiveServices.waitUntilAnswering(echo.url + "/health/live")
            let started = slowRequestsStarted.withLock { $0 }
            async let slow = send(.GET, echo.url + "/slow")
            // Shut down only once the request is in the handler (a fixed pause lost the
            // race on a loaded machine: the listener closed before the request arrived).
            while slowRequestsStarted.withLock({ $0 }) == started { try await Task.sleep(for: .milliseconds(10)) }
            await group.triggerGracefulShutdown()
            let response = try await slow
            #expect(response.status == 200)
            #expect(response.text == "done")
            try await tasks.waitForAll()
        }
        // And it is gone afterwards.
        await #expect(throws: (any Error).self) { try await send(.GET, echo.url + "/health/live") }
    }

    @Test func afterSIGTERMTheServiceIsNotReadyButServesEveryRequestForTheGrace() async throws {
        let echo = try await RunningEcho.make(shutdownGrace: .seconds(5))
        // The services the executable runs, stopped as SIGTERM stops them.
        let group = ServiceGroup(
            configuration: .init(services: echo.built.services.map { .init(service: $0) }, gracefulShutdownSignals: [], logger: Logger(label: "t")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await LiveServices.waitUntilAnswering(echo.url + "/health/live")
            #expect(try await send(.GET, echo.url + "/health/ready").status == 200)
            let triggered = ContinuousClock.now
            await group.triggerGracefulShutdown()
            var served = 0, failed = 0, notReady = 0
            // Requests started in the first two of the five seconds, each on a new
            // connection: all are served (on a machine running every test at once a
            // request can take a second).
            while ContinuousClock.now - triggered < .seconds(2) {
                // New connections each time, as a client behind a balancer opens them.
                if let live = try? await send(.GET, echo.url + "/health/live", headers: [("Connection", "close")]), live.status == 200 {
                    served += 1
                } else {
                    failed += 1
                }
                if (try? await send(.GET, echo.url + "/health/ready", headers: [("Connection", "close")]))?.status == 503 { notReady += 1 }
            }
            #expect(failed == 0)
            #expect(served >= 1)
            #expect(notReady >= 1)
            try await tasks.waitForAll()
            // The grace ended the service, no sooner.
            #expect(ContinuousClock.now - triggered >= .seconds(5))
        }
        await #expect(throws: (any Error).self) { try await send(.GET, echo.url + "/health/live") }
    }

    @Test func aRequestPastItsDeadlineIsA503WhileItWaitsAndTheTruthWhenItFinished() async throws {
        let echo = try await RunningEcho.make(requestTimeout: .milliseconds(300))
        try await echo.run {
            let start = ContinuousClock.now
            // /slow waits (cancellably) far longer than the deadline.
            let slow = try await send(.GET, echo.url + "/slow")
            #expect(slow.status == 503, "\(slow.text)")
            #expect(slow.header("Retry-After") == "1")
            #expect(slow.header("Content-Type") == "application/problem+json")
            #expect(ContinuousClock.now - start < .seconds(3))
            // A handler that could not be stopped and finished says what happened.
            let stubborn = try await send(.GET, echo.url + "/stubborn")
            #expect(stubborn.status == 200 && stubborn.text == "finished")
        }
    }
}

@Suite struct ReadinessTests {
    /// Metrics matter most during an outage: the outbox gauges give up after a second and
    /// keep their last values; the rest of the scrape answers.
    @Test func aScrapeAnswersWhileTheDatabaseIsDown() async throws {
        let cluster = try await PostgresCluster.start()
        defer { cluster.stopServerInBackground() }
        let echo = try await RunningEcho.make(database: cluster.configuration(database: "postgres", schema: "echo"))
        try await echo.run {
            #expect(try await send(.GET, echo.url + "/metrics").text.contains(#"suite_outbox_pending{outbox="echo_outbox"} 0"#))
            try await cluster.stopServer()
            let started = ContinuousClock.now
            let scrape = try await send(.GET, echo.url + "/metrics")
            #expect(scrape.status == 200 && scrape.text.contains("process_resident_memory_bytes"))
            #expect(scrape.text.contains(#"suite_outbox_pending{outbox="echo_outbox"} 0"#), "the last value stays")
            #expect(scrape.text.contains("suite_metrics_collect_failures_total 1"))
            #expect(ContinuousClock.now - started < .seconds(3), "the outbox gauges give up after a second")
        }
    }

    @Test func readinessFollowsTheDatabaseWithoutARestart() async throws {
        let cluster = try await PostgresCluster.start()
        defer { cluster.stopServerInBackground() }
        let database = cluster.configuration(database: "postgres", schema: "echo")
        let echo = try await RunningEcho.make(database: database)
        try await echo.run {
            #expect(try await send(.GET, echo.url + "/health/ready").status == 200)

            try await cluster.stopServer()
            let start = ContinuousClock.now
            let down = try await send(.GET, echo.url + "/health/ready")
            #expect(down.status == 503)
            #expect(ContinuousClock.now - start < .seconds(3), "the readiness check gives up after 1 s")
            #expect(down.header("Content-Type") == "application/problem+json")
            #expect(down.json?["checks"]?["database"] == "unavailable")
            // The process keeps serving.
            #expect(try await send(.GET, echo.url + "/health/live").status == 200)

            try await cluster.startServer()
            var recovered = false
            for _ in 0..<50 where !recovered {
                recovered = try await send(.GET, echo.url + "/health/ready").status == 200
                if !recovered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(recovered)
        }
    }
}

/// Tracing is on only when a collector is named, and the standard switches turn it off.
@Suite struct TracingSettingsTests {
    @Test(arguments: [
        ([:], false), (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"], true),
        (["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"], true),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"], false),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"], false),
        (["OTEL_SERVICE_NAME": "x"], false),
    ] as [([String: String], Bool)])
    func tracingFollowsTheStandardVariables(environment: [String: String], enabled: Bool) {
        #expect(SuiteTracing.isConfigured(environment) == enabled, "\(environment)")
    }

    /// Only OTLP over HTTP is built in; swift-otel would stop the process on gRPC, so the
    /// setting is refused by name (`serve` then exits 2 with it).
    @Test func aGRPCExporterIsRefusedByTheSettingsName() {
        #expect(SuiteTracing.problem([:]) == nil)
        #expect(SuiteTracing.problem(["OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"]) == nil)
        #expect(SuiteTracing.problem(["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"])?.variable == "OTEL_EXPORTER_OTLP_PROTOCOL")
        #expect(SuiteTracing.problem(["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "GRPC"])?.variable == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        // The traces' own setting wins over the general one, as in swift-otel.
        #expect(SuiteTracing.problem(["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]) == nil)
    }
}
