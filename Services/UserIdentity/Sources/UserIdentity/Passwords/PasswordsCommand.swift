import ArgumentParser
import Foundation
import HummingbirdBcrypt
import NIOCore
import NIOPosix
import Synchronization

/// `user-identity passwords benchmark`: how many bcrypt checks per second this machine
/// does at a cost, on the same thread pool the service uses, so an operator can choose
/// `UAI_BCRYPT_COST` and `scripts/bench` can compare logins with the raw rate.
struct PasswordsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwords", abstract: "Password hashing tools.", subcommands: [Benchmark.self])

    struct Benchmark: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print bcrypt verifications per second at a cost, using every core.")

        @Option(help: "bcrypt cost (4…16).") var cost: Int = 12
        @Option(help: "How long to measure, in seconds.") var seconds: Double = 5

        func validate() throws {
            guard (4...16).contains(cost) else { throw ValidationError("--cost must be between 4 and 16") }
            guard seconds > 0 && seconds <= 300 else { throw ValidationError("--seconds must be between 0 and 300") }
        }

        func run() async throws {
            let hash = Bcrypt.hash("benchmark-password", cost: UInt8(cost))
            let count = Counter()
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Twice the cores keeps the pool busy while a result travels back.
                for _ in 0..<(2 * System.coreCount) {
                    group.addTask {
                        while ContinuousClock.now < deadline {
                            _ = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify("benchmark-password", hash: hash) }
                            count.value.add(1, ordering: .relaxed)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - started
            let rate = Double(count.value.load(ordering: .relaxed)) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            print(String(format: "%.1f", rate))
        }
    }
}

private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
