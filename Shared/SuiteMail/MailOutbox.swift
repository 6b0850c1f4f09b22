import Foundation
public import Logging
public import PostgresNIO
public import ServiceLifecycle
import SuiteHTTP
import SuitePostgres

/// The transactional outbox: a message is a row written in the same transaction as the
/// change it reports, so none is sent for a rolled-back change and none is lost when the
/// mail server is down. `OutboxWorker` delivers the rows.
///
/// A service adds `MailOutbox.tableSQL` to one of its migrations.
public enum MailOutbox {
    public static let tableSQL = LeasedOutbox.tableSQL(
        "mail_outbox", payload: ["sender text NOT NULL", "recipients text[] NOT NULL", "data bytea NOT NULL"])

    /// The statement that queues the mail `query` selects: its columns, in order, are the
    /// sender (text), the recipients (text[]) and the message (bytea). For a service that
    /// queues mail inside a larger statement (a data-modifying CTE, so a batch of changes
    /// and their mail cost one round trip) without writing this table's columns itself.
    public static func insert(selecting query: String) -> String {
        "INSERT INTO mail_outbox (sender, recipients, data) \(query)"
    }

    /// Deletes mail delivered more than `seconds` ago; `keeping` selects the ids of rows
    /// that must stay (mail another table still refers to).
    @discardableResult
    public static func purgeDelivered(
        olderThanSeconds seconds: Double, keeping: String? = nil, database: PostgresClient, logger: Logger
    ) async throws -> Int {
        try await LeasedOutbox.purgeDelivered("mail_outbox", olderThanSeconds: seconds, keeping: keeping, database: database, logger: logger)
    }

    /// Queues `envelope` on `connection`, inside the caller's transaction.
    @discardableResult
    public static func enqueue(_ envelope: MailEnvelope, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let rows = try await connection.sql(
            """
            INSERT INTO mail_outbox (sender, recipients, data)
            VALUES (\(envelope.sender), \(envelope.recipients), \(ByteBuffer(bytes: envelope.data)))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw OutboxError.notQueued
    }

    enum OutboxError: Error {
        case notQueued
    }
}

/// Delivers the outbox: claims due rows with a lease (`FOR UPDATE SKIP LOCKED`, so any
/// number of replicas share the work and each message goes out once), delivers them
/// outside any transaction, then records the outcome. A failure is tried again after
/// an exponential backoff (5 s, 10 s, 20 s … at most an hour); after `maxAttempts` the
/// row is marked failed and kept for an operator.
public struct OutboxWorker: Service {
    let database: PostgresClient
    let transport: any MailTransport
    let logger: Logger
    let pollInterval: Duration
    let maxAttempts: Int
    let baseBackoffSeconds: Double
    let batchSize: Int
    let doorbell: Doorbell?
    let observer: (any OutboxObserver)?

    /// `doorbell`: the mail outbox's, from the service's `OutboxListener` (mail then leaves
    /// as soon as it is committed; the poll stays as the fallback).
    public init(
        database: PostgresClient, transport: any MailTransport, logger: Logger, doorbell: Doorbell? = nil,
        pollInterval: Duration = .milliseconds(500), maxAttempts: Int = 12, baseBackoffSeconds: Double = 5, batchSize: Int = 20,
        observer: (any OutboxObserver)? = nil
    ) {
        self.observer = observer
        self.doorbell = doorbell
        self.database = database
        self.transport = transport
        self.logger = logger
        self.pollInterval = pollInterval
        self.maxAttempts = maxAttempts
        self.baseBackoffSeconds = baseBackoffSeconds
        self.batchSize = batchSize
    }

    public func run() async throws {
        try await Periodic.draining("mail outbox pass", every: pollInterval, doorbell: doorbell, logger: logger, pass: { try await deliverDue() >= batchSize }).run()
    }

    /// One pass: claims due rows, delivers them, records each outcome. Returns how many
    /// rows it claimed.
    @discardableResult
    public func deliverDue() async throws -> Int {
        let outbox = LeasedOutbox(
            table: "mail_outbox", payload: "sender, recipients, data", database: database, logger: logger, leaseSeconds: 120,
            batchSize: batchSize, maxAttempts: maxAttempts, baseBackoffSeconds: baseBackoffSeconds, observer: observer)
        let claimed = try await outbox.claimDue { columns in
            MailEnvelope(
                sender: try columns[0].decode(String.self), recipients: try columns[1].decode([String].self),
                data: Array(buffer: try columns[2].decode(ByteBuffer.self)))
        }
        // The batch goes to the transport at once (SMTP sends it over one connection).
        // Delivered rows are marked together at the end; a crash in between means those
        // few go out again after the lease (at least once, never lost).
        guard !claimed.isEmpty else { return 0 }
        let outcomes = await outbox.pass(claimed.count) { _ in await transport.deliver(batch: claimed.map(\.payload)) }
        var sent: [Int64] = []
        for ((id, attempts, _), failure) in zip(claimed, outcomes) {
            if let error = failure {
                let outcome: LeasedOutbox.Outcome
                do {
                    outcome = try await outbox.markFailed(id, attempts: attempts, error: error)
                } catch {
                    try await outbox.markSent(sent)
                    throw error
                }
                switch outcome {
                case .givenUp: logger.error("mail given up", metadata: ["outbox_id": "\(id)", "attempts": "\(attempts)"])
                case .retryIn(let seconds):
                    logger.warning("mail delivery failed; will retry", metadata: ["outbox_id": "\(id)", "retry_in_s": "\(seconds)"])
                }
            } else {
                sent.append(id)
            }
        }
        try await outbox.markSent(sent)
        return claimed.count
    }
}
