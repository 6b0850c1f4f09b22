import Logging
@testable import PostgresNIO
import SuiteCore
import SuiteHTTP
import Testing

/// A lost COMMIT reply is not a "try again": the change may have been saved. The real
/// thing (PostgreSQL killed between COMMIT and its answer) is what `scripts/outage` runs;
/// here, the mapping of the error PostgresNIO raises then (its initializer is internal,
/// hence `@testable`).
@Suite struct CommitMappingTests {
    let logger = Logger(label: "test")

    @Test func aCommitWhoseAnswerWasLostSaysTheChangeMayHaveBeenSaved() {
        var lost = PostgresTransactionError(file: #file, line: #line)
        lost.commitError = PSQLError.serverClosedConnection(underlying: nil)
        let mapped = AppError.from(lost, logger: logger)
        #expect(mapped.status == .serviceUnavailable)
        #expect(mapped.detail?.contains("it may have been saved") == true)
    }

    @Test func aFailedBeginIsAPlainTryAgain() {
        var failed = PostgresTransactionError(file: #file, line: #line)
        failed.beginError = PSQLError.serverClosedConnection(underlying: nil)
        failed.commitError = nil
        let mapped = AppError.from(failed, logger: logger)
        #expect(mapped.status == .serviceUnavailable)
        #expect(mapped.detail?.contains("may have been saved") == false)
    }

    @Test func theHandlersOwnErrorWinsOverTheRollback() {
        var rolledBack = PostgresTransactionError(file: #file, line: #line)
        rolledBack.closureError = AppError.notFound("No such room.")
        let mapped = AppError.from(rolledBack, logger: logger)
        #expect(mapped.status == .notFound)
    }
}
