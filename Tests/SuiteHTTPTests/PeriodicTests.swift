import Logging
import Synchronization
import SuiteHTTP
import SuiteTesting
import Testing

@Suite struct PeriodicTests {
    @Test func aFailedPassIsLoggedAndTheNextComesOnTime() async throws {
        let passes = Mutex(0)
        let periodic = Periodic("test job", every: .milliseconds(20), logger: Logger(label: "test")) {
            let count = passes.withLock { count -> Int in
                count += 1
                return count
            }
            if count == 1 { throw EchoService.Boom() }
        }
        try await LiveServices.run([periodic], readyURLs: []) {
            for _ in 0..<250 where passes.withLock({ $0 }) < 3 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(passes.withLock { $0 } >= 3)
    }

    @Test func shutdownEndsTheWaitAndWaitFirstSkipsTheStart() async throws {
        let passes = Mutex(0)
        let periodic = Periodic("hourly job", every: .seconds(3600), logger: Logger(label: "test"), waitFirst: true) {
            passes.withLock { $0 += 1 }
        }
        let start = ContinuousClock.now
        try await LiveServices.run([periodic], readyURLs: []) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(passes.withLock { $0 } == 0)
    }

    @Test func aDrainGoesOnAtOnceWhileMoreIsWaiting() async throws {
        // Three full passes, then an empty one: all four come well before one hourly interval.
        let passes = Mutex(0)
        let periodic = Periodic.draining("hourly outbox", every: .seconds(3600), logger: Logger(label: "test")) {
            passes.withLock { count -> Bool in
                count += 1
                return count < 4
            }
        }
        try await LiveServices.run([periodic], readyURLs: []) {
            for _ in 0..<250 where passes.withLock({ $0 }) < 4 { try await Task.sleep(for: .milliseconds(20)) }
            // The empty pass ends the run of passes: the next waits the interval.
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(passes.withLock { $0 } == 4)
    }
}
