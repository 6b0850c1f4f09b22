import Synchronization
import Testing

@testable import SuiteCore

@Suite struct RequestDeadlineTests {
    @Test func anOperationThatFinishesInTimeGivesItsAnswer() async throws {
        let answer = try await until(.now + .seconds(5)) { 42 }
        #expect(answer == 42)
    }

    /// At the deadline the operation is cancelled, and how it then ends is the answer.
    @Test func anOperationCancelledAtTheDeadlineEndsWithItsOwnError() async {
        await #expect(throws: CancellationError.self) {
            try await until(.now + .milliseconds(20)) {
                try await Task.sleep(for: .seconds(30))
            }
        }
    }

    /// One whose work had already gone out (a statement in the database) reports what
    /// really happened, even when it finishes after the deadline.
    @Test func anOperationThatCompletesDespiteTheCancellationReportsWhatHappened() async throws {
        let answer = try await until(.now + .milliseconds(20), abandonAfter: .seconds(30)) {
            try? await Task.sleep(for: .seconds(30))  // cancelled at the deadline, ignored
            return "committed"
        }
        #expect(answer == "committed")
    }

    /// One that ignores the cancellation is left behind: the caller gets DeadlineExceeded
    /// without waiting for it (it is released only after `until` has answered).
    @Test func anOperationThatIgnoresTheCancellationIsAbandoned() async {
        let release = Gate()
        await #expect(throws: DeadlineExceeded.self) {
            try await until(.now + .milliseconds(20), abandonAfter: .milliseconds(20)) {
                await release.wait()
                return 1
            }
        }
        release.open()
    }

    /// Cancelling the caller cancels the operation (a client that went away).
    @Test func cancellingTheCallerCancelsTheOperation() async {
        let caller = Task {
            try await until(.now + .seconds(30)) { try await Task.sleep(for: .seconds(30)) }
        }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
    }
}

/// A wait that does not end when cancelled, released by `open`.
private final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func wait() async {
        await withCheckedContinuation { continuation in
            state.withLock {
                if $0.open { continuation.resume() } else { $0.waiter = continuation }
            }
        }
    }

    func open() {
        state.withLock {
            $0.open = true
            $0.waiter?.resume()
            $0.waiter = nil
        }
    }

    /// Every `until` shares one timer: a hundred operations past their deadline are all
    /// cancelled within a tick or two, and the timer stops once nothing is watched.
    @Test func oneSharedTimerCancelsEveryOperationAndRestsWhenIdle() async throws {
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    do {
                        try await until(.now + .milliseconds(30)) { try await Task.sleep(for: .seconds(10)) }
                        return false
                    } catch is CancellationError {
                        return true
                    }
                }
            }
            for try await cancelled in group { #expect(cancelled) }
        }
        #expect(ContinuousClock.now - started < .seconds(1))

        // A watcher of its own (the shared one serves the other tests meanwhile): it
        // cancels, then abandons, then rests.
        let watch = DeadlineWatch()
        let calls = Mutex((cancelled: 0, abandoned: 0))
        for _ in 0..<3 {
            _ = watch.add(
                deadline: .now + .milliseconds(30), abandonAt: .now + .milliseconds(80),
                cancel: { calls.withLock { $0.cancelled += 1 } }, abandon: { calls.withLock { $0.abandoned += 1 } })
        }
        #expect(watch.isTicking)
        var rested = false
        for _ in 0..<40 where !rested {
            try await Task.sleep(for: .milliseconds(50))
            rested = !watch.isTicking
        }
        #expect(rested, "the timer keeps ticking with nothing to watch")
        #expect(calls.withLock { $0.cancelled } == 3 && calls.withLock { $0.abandoned } == 3)
    }
}
