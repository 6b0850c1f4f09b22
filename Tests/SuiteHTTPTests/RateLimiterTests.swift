import Foundation
import Logging
import PostgresNIO
import SuiteCore
import SuiteTesting
import Testing

@testable import SuiteHTTP

@Suite struct RateLimiterTests {
    @Test func callersOverTheLimitGet429WithRetryAfter() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            for _ in 0..<3 {
                #expect(try await send(.POST, echo.url + "/login", headers: [("X-Test-IP", "10.0.0.1")]).status == 200)
            }
            let limited = try await send(.POST, echo.url + "/login", headers: [("X-Test-IP", "10.0.0.1")])
            #expect(limited.status == 429)
            #expect(limited.header("Content-Type") == "application/problem+json")
            let retryAfter = try #require(limited.header("Retry-After").flatMap(Int.init))
            #expect((1...3600).contains(retryAfter))
            // Another caller is not held back by the first one.
            #expect(try await send(.POST, echo.url + "/login", headers: [("X-Test-IP", "10.0.0.2")]).status == 200)
        }
    }

    @Test func aSecondLimitOnTheSameRouteCountsOnItsOwn() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            // Five addresses, one email: the per-email limit (5) is what stops the sixth.
            for index in 0..<5 {
                let status = try await send(.POST, echo.url + "/login", headers: [("X-Test-IP", "10.1.0.\(index)"), ("X-Test-Email", "eve@example.org")]).status
                #expect(status == 200)
            }
            let sixth = try await send(.POST, echo.url + "/login", headers: [("X-Test-IP", "10.1.0.9"), ("X-Test-Email", "eve@example.org")])
            #expect(sixth.status == 429)
        }
    }

    @Test func matrixRoutesGetMLimitExceeded() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            _ = try await send(.POST, echo.url + "/_matrix/login")
            let limited = try await send(.POST, echo.url + "/_matrix/login")
            #expect(limited.status == 429)
            #expect(limited.json?["errcode"] == "M_LIMIT_EXCEEDED")
            #expect((limited.json?["retry_after_ms"]?.intValue ?? 0) >= 1000)
        }
    }

    @Test func parallelHitsNeverExceedTheLimit() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let limiter = echo.built.dependencies.rateLimiter
            let limit = RateLimit(name: "burst", limit: 10, windowSeconds: 3600)
            let allowed = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<50 { group.addTask { try await limiter.hit(limit, key: "same-key").allowed } }
                var count = 0
                for try await ok in group where ok { count += 1 }
                return count
            }
            #expect(allowed == 10)
        }
    }

    @Test func severalLimitsCountInOneStatementWhateverTheirOrderAndRepeats() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let limiter = echo.built.dependencies.rateLimiter
            let perIP = RateLimit(name: "multi-ip", limit: 30, windowSeconds: 3600)
            let perEmail = RateLimit(name: "multi-email", limit: 1000, windowSeconds: 60)
            // Concurrent callers name the same two buckets in both orders: counted, no deadlock.
            let answers = try await withThrowingTaskGroup(of: (Bool, [RateLimiter.Decision]).self) { group in
                for index in 0..<40 {
                    let ipFirst = index.isMultiple(of: 2)
                    let checks = [(perIP, "10.9.0.1"), (perEmail, "eve@example.org")]
                    group.addTask { (ipFirst, try await limiter.hits(ipFirst ? checks : checks.reversed())) }
                }
                var all: [(ipFirst: Bool, decisions: [RateLimiter.Decision])] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            #expect(answers.count == 40)
            // Answers come in the order asked (the hour's window ends later than the minute's).
            let byIP = answers.map { $0.ipFirst ? $0.decisions[0] : $0.decisions[1] }
            let byEmail = answers.map { $0.ipFirst ? $0.decisions[1] : $0.decisions[0] }
            #expect(byIP.allSatisfy { $0.retryAfterSeconds > 60 })
            #expect(byEmail.allSatisfy { $0.retryAfterSeconds <= 60 && $0.allowed })
            #expect(byIP.map(\.hits).sorted() == Array(1...40))
            #expect(byIP.filter(\.allowed).count == 30)
            // One key asked twice in one call counts once and answers both.
            let twice = try await limiter.hits([(perEmail, "bob@example.org"), (perEmail, "bob@example.org")])
            #expect(twice.map(\.hits) == [1, 1])
            #expect(twice.allSatisfy { (1...60).contains($0.retryAfterSeconds) })
        }
    }

    @Test func aNewWindowStartsAfresh() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let limiter = echo.built.dependencies.rateLimiter
            let limit = RateLimit(name: "short", limit: 1, windowSeconds: 1)
            var decision = try await limiter.hit(limit, key: "k")
            if !decision.allowed {  // the first hit fell at the very end of a window
                try await Task.sleep(for: .seconds(1))
                decision = try await limiter.hit(limit, key: "k")
            }
            #expect(decision.allowed)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await limiter.hit(limit, key: "k").allowed)
        }
    }

    @Test func operatorsCanTurnLimitsOffOrChangeThem() async throws {
        let off = try await RunningEcho.make(rateLimits: RateLimitSettings(enabled: false))
        try await off.run {
            for _ in 0..<6 {
                let status = try await send(.POST, off.url + "/login").status
                #expect(status == 200)
            }
        }
        let strict = try await RunningEcho.make(rateLimits: try RateLimitSettings.parse("login-ip=1/3600"))
        try await strict.run {
            let first = try await send(.POST, strict.url + "/login").status
            let second = try await send(.POST, strict.url + "/login").status
            #expect(first == 200)
            #expect(second == 429)
        }
    }

    @Test func keysAreStoredHashedAndOldWindowsArePurged() async throws {
        let echo = try await RunningEcho.make()
        try await echo.run {
            let database = echo.built.dependencies.database
            _ = try await send(.POST, echo.url + "/login", headers: [("X-Test-Email", "alice@example.org")])
            let buckets = try await database.query("SELECT bucket FROM rate_limit_hits").collect().map { try $0.decode(String.self) }
            #expect(!buckets.isEmpty)
            #expect(buckets.allSatisfy { !$0.contains("alice") && !$0.contains("127.0.0.1") })

            try await database.query("INSERT INTO rate_limit_hits (bucket, window_start, hits) VALUES ('old', now() - interval '2 days', 3)")
            #expect(try await echo.built.dependencies.rateLimiter.purge() == 1)
            let left = try await database.query("SELECT count(*)::integer FROM rate_limit_hits WHERE bucket = 'old'").collect()
            #expect(try left.first?.decode(Int.self) == 0)
        }
    }
}

@Suite struct RateLimitSettingsTests {
    @Test func readsOnOffAndOverrides() throws {
        #expect(try RateLimitSettings.parse(nil) == RateLimitSettings())
        #expect(try RateLimitSettings.parse("off").enabled == false)
        #expect(try RateLimitSettings.parse("ON").enabled)
        let settings = try RateLimitSettings.parse("authentications-ip=20/60, signup-email=3/3600")
        #expect(settings.effective(RateLimit(name: "signup-email", limit: 10, windowSeconds: 60)) == RateLimit(name: "signup-email", limit: 3, windowSeconds: 3600))
        #expect(settings.effective(RateLimit(name: "other", limit: 10, windowSeconds: 60)).limit == 10)
    }

    @Test(arguments: ["login", "login=5", "login=0/60", "login=5/0", "login=x/60", "login=5/100000"])
    func refusesWhatItCannotRead(_ text: String) {
        let error = #expect(throws: ConfigurationError.self) { try RateLimitSettings.parse(text) }
        #expect(error?.variable == "RATE_LIMITS")
    }
}

@Suite struct ServedDocumentTests {
    func firstServer(_ document: [UInt8]) -> String? {
        String(decoding: document, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("- url: ") }.map { String($0.dropFirst(7)) }
    }

    @Test func theFirstServerIsThisDeploymentsPublicAddress() {
        let stripped = Array("openapi: 3.1.0\nservers:\n- url: http://localhost:8080/vault\n  description: make run\n- url: http://127.0.0.1:8084\n".utf8)
        let served = StandardRoutes.served(stripped, publicURL: "https://id.example.com/vault", publicPath: "/vault")
        #expect(firstServer(served) == "https://id.example.com/vault")
        #expect(String(decoding: served, as: UTF8.self).contains("- url: http://127.0.0.1:8084\n"))

        // Paths that carry the prefix (meet-rooms): the server is the origin.
        let kept = Array("openapi: 3.1.0\nservers:\n- url: http://localhost:8080\n  description: make run\n".utf8)
        #expect(firstServer(StandardRoutes.served(kept, publicURL: "https://meet.example.com/external-api", publicPath: "/external-api"))
            == "https://meet.example.com")
        // A document without servers is served as it is.
        let bare = Array("openapi: 3.1.0\npaths: {}\n".utf8)
        #expect(StandardRoutes.served(bare, publicURL: "https://x.example", publicPath: "/x") == bare)
    }
}
