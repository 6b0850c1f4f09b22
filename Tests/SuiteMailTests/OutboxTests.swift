import Foundation
import Logging
import PostgresNIO
import SuitePostgres
import SuiteTesting
import Synchronization
import Testing

@testable import SuiteMail

let quiet: Logger = {
    var logger = Logger(label: "outbox-test")
    logger.logLevel = .critical
    return logger
}()

/// A transport that records what it was given and can be told to fail.
final class RecordingTransport: MailTransport {
    let delivered = Mutex<[MailEnvelope]>([])
    let failing = Mutex(false)

    func deliver(_ envelope: MailEnvelope) async throws {
        if failing.withLock({ $0 }) { throw CancellationError() }
        delivered.withLock { $0.append(envelope) }
    }

    var count: Int { delivered.withLock { $0.count } }
}

func withOutbox<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
    let configuration = try await TestPostgres.shared.makeDatabase(schema: "mail")
    let client = configuration.makeClient(logger: quiet)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        try await Migrator(client: client, schema: "mail", logger: quiet)
            .migrate([Migration(version: 1, name: "outbox", sql: MailOutbox.tableSQL)])
        return try await body(client)
    }
}

let welcome = MailMessage(from: "suite@example.org", to: ["alice@example.org"], subject: "Welcome", text: "Hello Alice").envelope()

@Suite struct OutboxTests {
    @Test func aCommittedMessageIsDeliveredOnce() async throws {
        try await withOutbox { database in
            _ = try await database.withTransaction(logger: quiet) { connection in
                try await MailOutbox.enqueue(welcome, on: connection, logger: quiet)
            }
            let transport = RecordingTransport()
            let worker = OutboxWorker(database: database, transport: transport, logger: quiet)
            #expect(try await worker.deliverDue() == 1)
            #expect(try await worker.deliverDue() == 0)
            #expect(transport.delivered.withLock { $0 } == [welcome])
        }
    }

    @Test func nothingIsSentForARolledBackChange() async throws {
        try await withOutbox { database in
            struct Abort: Error {}
            await #expect(throws: (any Error).self) {
                try await database.withTransaction(logger: quiet) { connection in
                    try await MailOutbox.enqueue(welcome, on: connection, logger: quiet)
                    throw Abort()
                }
            }
            let transport = RecordingTransport()
            let claimed = try await OutboxWorker(database: database, transport: transport, logger: quiet).deliverDue()
            #expect(claimed == 0)
            #expect(transport.count == 0)
        }
    }

    @Test func aFailedDeliveryIsRetriedAfterABackoffAndNotLost() async throws {
        try await withOutbox { database in
            _ = try await database.withTransaction(logger: quiet) { try await MailOutbox.enqueue(welcome, on: $0, logger: quiet) }
            let transport = RecordingTransport()
            transport.failing.withLock { $0 = true }
            // Long enough that a loaded machine cannot reach the retry before the check below.
            let worker = OutboxWorker(database: database, transport: transport, logger: quiet, baseBackoffSeconds: 2)
            #expect(try await worker.deliverDue() == 1)
            // Not due again before the backoff has passed.
            #expect(try await worker.deliverDue() == 0)
            let row = try await database.query("SELECT attempts, last_error IS NOT NULL FROM mail_outbox").collect()
            let (attempts, hasError) = try #require(row.first).decode((Int, Bool).self)
            #expect(attempts == 1)
            #expect(hasError)

            transport.failing.withLock { $0 = false }
            try await Task.sleep(for: .milliseconds(2100))
            #expect(try await worker.deliverDue() == 1)
            #expect(transport.count == 1)
        }
    }

    @Test func afterTheLastAttemptTheRowIsMarkedFailedAndKept() async throws {
        try await withOutbox { database in
            _ = try await database.withTransaction(logger: quiet) { try await MailOutbox.enqueue(welcome, on: $0, logger: quiet) }
            let transport = RecordingTransport()
            transport.failing.withLock { $0 = true }
            let worker = OutboxWorker(database: database, transport: transport, logger: quiet, maxAttempts: 1)
            #expect(try await worker.deliverDue() == 1)
            let rows = try await database.query("SELECT failed_at IS NOT NULL FROM mail_outbox").collect()
            #expect(try rows.first?.decode(Bool.self) == true)
            #expect(try await worker.deliverDue() == 0)
        }
    }

    @Test func workersOnSeveralReplicasDeliverEachMessageOnce() async throws {
        try await withOutbox { database in
            try await database.withTransaction(logger: quiet) { connection in
                for index in 0..<40 {
                    let message = MailMessage(from: "suite@example.org", to: ["user\(index)@example.org"], subject: "n\(index)", text: "x")
                    try await MailOutbox.enqueue(message.envelope(), on: connection, logger: quiet)
                }
            }
            let transport = RecordingTransport()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let worker = OutboxWorker(database: database, transport: transport, logger: quiet, batchSize: 5)
                        while try await worker.deliverDue() > 0 {}
                    }
                }
                try await group.waitForAll()
            }
            let recipients = transport.delivered.withLock { $0.flatMap(\.recipients) }
            #expect(recipients.count == 40)
            #expect(Set(recipients).count == 40)
        }
    }
}

@Suite struct MailMessageTests {
    @Test func rendersCRLFHeadersAndABase64Body() throws {
        let message = MailMessage(
            from: "suite@example.org", fromName: "Suite Équipe", to: ["alice@example.org"], subject: "Réinitialisez votre mot de passe",
            text: "Bonjour\n.\nfin")
        let envelope = message.envelope(date: Date(timeIntervalSince1970: 0), messageID: "<id@example.org>")
        let text = String(decoding: envelope.data, as: UTF8.self)
        #expect(envelope.sender == "suite@example.org")
        #expect(envelope.recipients == ["alice@example.org"])
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(text.contains("Subject: =?UTF-8?B?\(Data("Réinitialisez votre mot de passe".utf8).base64EncodedString())?=\r\n"))
        #expect(text.contains("From: =?UTF-8?B?"))
        #expect(text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"))
        #expect(text.contains("Message-ID: <id@example.org>\r\n"))
        #expect(text.contains("Content-Transfer-Encoding: base64\r\n"))
        #expect(text.contains(Data("Bonjour\n.\nfin".utf8).base64EncodedString()))
        #expect(envelope.data.allSatisfy { $0 < 0x80 }, "7-bit clean")
    }

    @Test func htmlMakesAMultipartAlternative() {
        let envelope = MailMessage(from: "a@example.org", to: ["b@example.org"], subject: "Hi", text: "t", html: "<p>h</p>").envelope()
        let text = String(decoding: envelope.data, as: UTF8.self)
        #expect(text.contains("Content-Type: multipart/alternative; boundary="))
        #expect(text.contains("Content-Type: text/plain; charset=utf-8"))
        #expect(text.contains("Content-Type: text/html; charset=utf-8"))
    }

    @Test func templatesWithBareLineFeedsAreNormalised() {
        let envelope = MailEnvelope(sender: "a@b.org", recipients: ["c@d.org"], data: Array("Subject: x\nTo: c@d.org\r\n\rbody\n".utf8))
        #expect(String(decoding: envelope.data, as: UTF8.self) == "Subject: x\r\nTo: c@d.org\r\n\r\nbody\r\n")
    }

    @Test func theFileTransportWritesOneWholeEmlPerMessage() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mail-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let transport = FileMailTransport(directory: directory)
        try await transport.deliver(welcome)
        try await transport.deliver(welcome)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(files.count == 2)
        #expect(files.allSatisfy { $0.hasSuffix(".eml") && !$0.hasPrefix(".") })
        let content = try #require(FileManager.default.contents(atPath: directory + "/" + files[0]))
        #expect(Array(content) == welcome.data)
    }
}

/// Installed databases applied this DDL as a migration: it must not change by a byte.
@Suite struct OutboxTableTests {
    @Test func theMailOutboxDDLIsTheOneMigrationsApplied() {
        let applied = """
            CREATE TABLE mail_outbox (
                id bigserial PRIMARY KEY,
                sender text NOT NULL,
                recipients text[] NOT NULL,
                data bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                attempts integer NOT NULL DEFAULT 0,
                next_attempt_at timestamptz NOT NULL DEFAULT now(),
                locked_until timestamptz,
                sent_at timestamptz,
                failed_at timestamptz,
                last_error text
            );
            CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
            """
        #expect(MailOutbox.tableSQL == applied)
    }
}
