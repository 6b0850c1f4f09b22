import Foundation
import SuiteTesting
import Testing

@testable import SuiteMail

@Suite struct SMTPTransportTests {
    func transport(_ sink: SMTPSink, username: String? = nil, password: String? = nil, security: SMTPSecurity = .none) -> SMTPTransport {
        SMTPTransport(configuration: SMTPConfiguration(
            host: "127.0.0.1", port: sink.port, security: security, username: username, password: password, timeout: .seconds(5)))
    }

    @Test func aMessageReachesTheServerWholeWithEveryRecipient() async throws {
        let sink = try await SMTPSink.start()
        defer { Task { await sink.stop() } }
        let raw = "Subject: dots\r\nTo: a@example.org\r\n\r\n.leading dot\r\n..two dots\r\nend\r\n"
        let envelope = MailEnvelope(sender: "suite@example.org", recipients: ["a@example.org", "b@example.org"], data: Array(raw.utf8))
        try await transport(sink).deliver(envelope)

        let mail = try await sink.waitForMail(to: "b@example.org")
        #expect(mail.sender == "suite@example.org")
        #expect(mail.recipients == ["a@example.org", "b@example.org"])
        #expect(mail.data == raw)
        #expect(mail.header("Subject") == "dots")
    }

    @Test func authPlainIsUsedWhenCredentialsAreSet() async throws {
        let sink = try await SMTPSink.start(credentials: ("mailer", "s3cret"))
        defer { Task { await sink.stop() } }
        try await transport(sink, username: "mailer", password: "s3cret").deliver(welcome)
        #expect(try await sink.waitForMail(to: "alice@example.org").authenticatedAs == "mailer")
    }

    @Test func wrongCredentialsAreAnError() async throws {
        let sink = try await SMTPSink.start(credentials: ("mailer", "s3cret"))
        defer { Task { await sink.stop() } }
        let error = await #expect(throws: SMTPError.self) {
            try await transport(sink, username: "mailer", password: "wrong").deliver(welcome)
        }
        #expect(error?.stage == "AUTH")
        #expect(sink.messages.isEmpty)
    }

    @Test func aServerThatNeedsAuthRefusesAnonymousMail() async throws {
        let sink = try await SMTPSink.start(credentials: ("mailer", "s3cret"))
        defer { Task { await sink.stop() } }
        let error = await #expect(throws: SMTPError.self) { try await transport(sink).deliver(welcome) }
        #expect(error?.stage == "MAIL FROM")
    }

    @Test func aRejectedRecipientIsAnError() async throws {
        let sink = try await SMTPSink.start(rejectRecipient: { $0.hasPrefix("nobody") })
        defer { Task { await sink.stop() } }
        let envelope = MailEnvelope(sender: "suite@example.org", recipients: ["nobody@example.org"], data: welcome.data)
        let error = await #expect(throws: SMTPError.self) { try await transport(sink).deliver(envelope) }
        #expect(error?.reply.hasPrefix("550") == true)
    }

    func mail(to recipient: String) -> MailEnvelope {
        MailEnvelope(sender: "suite@example.org", recipients: [recipient], data: Array("Subject: \(recipient)\r\n\r\nhello\r\n".utf8))
    }

    @Test func aBatchGoesOverOneConnection() async throws {
        let sink = try await SMTPSink.start(credentials: ("mailer", "s3cret"))
        defer { Task { await sink.stop() } }
        let batch = (1...5).map { mail(to: "user\($0)@example.org") }
        let outcomes = await transport(sink, username: "mailer", password: "s3cret").deliver(batch: batch)
        #expect(outcomes.count == 5)
        #expect(outcomes.allSatisfy { $0 == nil })
        #expect(sink.messages.map(\.recipients) == (1...5).map { ["user\($0)@example.org"] })
        #expect(sink.messages.map { $0.header("Subject") } == (1...5).map { "user\($0)@example.org" })
        #expect(sink.connections == 1)
    }

    @Test func aRefusedMessageFailsAloneAndTheRestGoOn() async throws {
        let sink = try await SMTPSink.start(rejectRecipient: { $0.hasPrefix("nobody") })
        defer { Task { await sink.stop() } }
        let batch = [mail(to: "a@example.org"), mail(to: "nobody@example.org"), mail(to: "b@example.org")]
        let outcomes = await transport(sink).deliver(batch: batch)
        #expect(outcomes[0] == nil)
        #expect((outcomes[1] as? SMTPError)?.reply.hasPrefix("550") == true)
        #expect(outcomes[2] == nil)
        // The refused transaction was reset: b's mail carries only b.
        #expect(sink.messages.map(\.recipients) == [["a@example.org"], ["b@example.org"]])
        #expect(sink.connections == 1)
    }

    @Test func whenTheServerHangsUpTheRestGoOverANewConnection() async throws {
        let sink = try await SMTPSink.start(messagesPerConnection: 2)
        defer { Task { await sink.stop() } }
        let batch = (1...5).map { mail(to: "user\($0)@example.org") }
        let outcomes = await transport(sink).deliver(batch: batch)
        // The third message meets the closed connection before anything of it was
        // accepted: it goes again, with the rest, over a new connection.
        #expect(outcomes.count == 5)
        #expect(outcomes.allSatisfy { $0 == nil })
        #expect(sink.messages.map(\.recipients) == (1...5).map { ["user\($0)@example.org"] })
        #expect(sink.connections == 3)
    }

    @Test func aConnectionLostInTheMiddleOfAMessageFailsItAndTheRestGoOverANewOne() async throws {
        let sink = try await SMTPSink.start(hangUpAtRecipient: { $0.hasPrefix("drop") })
        defer { Task { await sink.stop() } }
        let batch = [mail(to: "a@example.org"), mail(to: "drop@example.org"), mail(to: "b@example.org")]
        let outcomes = await transport(sink).deliver(batch: batch)
        // The server may have seen part of the dropped one: it fails, and the outbox
        // tries it again later.
        #expect(outcomes[0] == nil)
        #expect(outcomes[1] != nil)
        #expect(outcomes[2] == nil)
        #expect(sink.messages.map(\.recipients) == [["a@example.org"], ["b@example.org"]])
        #expect(sink.connections == 2)
    }

    @Test func aServerThatHangsUpAtEveryMessageFailsEachOnceAndTheBatchEnds() async throws {
        let sink = try await SMTPSink.start(messagesPerConnection: 0)
        defer { Task { await sink.stop() } }
        let outcomes = await transport(sink).deliver(batch: (1...3).map { mail(to: "user\($0)@example.org") })
        #expect(outcomes.count == 3)
        #expect(outcomes.allSatisfy { $0 != nil })
        #expect(sink.messages.isEmpty)
        #expect(sink.connections == 3)
    }

    @Test func anUnreachableServerFailsEveryMessageOfTheBatch() async throws {
        let sink = try await SMTPSink.start()
        let port = sink.port
        await sink.stop()
        let transport = SMTPTransport(configuration: SMTPConfiguration(host: "127.0.0.1", port: port, timeout: .seconds(5)))
        let outcomes = await transport.deliver(batch: [mail(to: "a@example.org"), mail(to: "b@example.org")])
        #expect(outcomes.count == 2)
        #expect(outcomes.allSatisfy { $0 != nil })
    }

    @Test func starttlsIsRequiredWhenConfigured() async throws {
        let sink = try await SMTPSink.start()
        defer { Task { await sink.stop() } }
        let error = await #expect(throws: SMTPError.self) { try await transport(sink, security: .starttls).deliver(welcome) }
        #expect(error?.stage == "STARTTLS")
        #expect(sink.messages.isEmpty, "nothing is sent in clear when TLS was asked for")
    }

    @Test func starttlsUpgradesTheConnectionBeforeAnythingElse() async throws {
        let certificate = try SinkCertificate.selfSigned()
        let sink = try await SMTPSink.start(credentials: ("mailer", "s3cret"), tls: .starttls(certificate))
        defer { Task { await sink.stop() } }
        let transport = SMTPTransport(configuration: SMTPConfiguration(
            host: "localhost", port: sink.port, security: .starttls, username: "mailer", password: "s3cret",
            timeout: .seconds(5), trustRootsPEM: certificate.certificatePEM))
        try await transport.deliver(welcome)
        let mail = try await sink.waitForMail(to: "alice@example.org")
        #expect(mail.authenticatedAs == "mailer")
        #expect(mail.text == "Hello Alice")
    }

    @Test func implicitTLSFromTheFirstByte() async throws {
        let certificate = try SinkCertificate.selfSigned()
        let sink = try await SMTPSink.start(tls: .implicit(certificate))
        defer { Task { await sink.stop() } }
        let transport = SMTPTransport(configuration: SMTPConfiguration(
            host: "localhost", port: sink.port, security: .tls, timeout: .seconds(5), trustRootsPEM: certificate.certificatePEM))
        try await transport.deliver(welcome)
        #expect(try await sink.waitForMail(to: "alice@example.org").text == "Hello Alice")
    }

    @Test func anUntrustedCertificateStopsTheDelivery() async throws {
        let sink = try await SMTPSink.start(tls: .starttls(try SinkCertificate.selfSigned()))
        defer { Task { await sink.stop() } }
        let transport = SMTPTransport(configuration: SMTPConfiguration(
            host: "localhost", port: sink.port, security: .starttls, timeout: .seconds(5)))
        await #expect(throws: (any Error).self) { try await transport.deliver(welcome) }
        #expect(sink.messages.isEmpty)
    }

    @Test func aServerThatIsDownFailsQuickly() async throws {
        let closed = try FreePort.next()
        let transport = SMTPTransport(configuration: SMTPConfiguration(host: "127.0.0.1", port: closed, timeout: .seconds(5)))
        let start = ContinuousClock.now
        await #expect(throws: (any Error).self) { try await transport.deliver(welcome) }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func dotStuffingDoublesLeadingDotsAndTerminates() {
        let stuffed = SMTPTransport.dotStuffed(Array(".a\r\nb\r\n.\r\nc".utf8))
        #expect(String(decoding: stuffed, as: UTF8.self) == "..a\r\nb\r\n..\r\nc\r\n.\r\n")
    }

    @Test func theOutboxDeliversThroughSMTPAndRetriesARefusal() async throws {
        let refusing = RefusalSwitch()
        let sink = try await SMTPSink.start(rejectRecipient: { _ in refusing.on })
        defer { Task { await sink.stop() } }
        try await withOutbox { database in
            _ = try await database.withTransaction(logger: quiet) { try await MailOutbox.enqueue(welcome, on: $0, logger: quiet) }
            let worker = OutboxWorker(database: database, transport: transport(sink), logger: quiet, baseBackoffSeconds: 0.2)
            refusing.set(true)
            _ = try await worker.deliverDue()
            #expect(sink.messages.isEmpty)
            refusing.set(false)
            try await Task.sleep(for: .milliseconds(300))
            _ = try await worker.deliverDue()
            let mail = try await sink.waitForMail(to: "alice@example.org")
            #expect(mail.text == "Hello Alice")
        }
    }
}

final class RefusalSwitch: Sendable {
    let state = Synchronization.Mutex(false)
    var on: Bool { state.withLock { $0 } }
    func set(_ value: Bool) { state.withLock { $0 = value } }
}

import Synchronization
