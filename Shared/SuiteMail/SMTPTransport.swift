import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// How the connection to the SMTP server is protected.
public enum SMTPSecurity: String, Sendable, CaseIterable {
    /// Plain text (a relay on the same host, a test sink).
    case none
    /// Plain first, then `STARTTLS` before anything else is said (port 587).
    case starttls
    /// TLS from the first byte (port 465).
    case tls
}

public struct SMTPConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var security: SMTPSecurity
    public var username: String?
    public var password: String?
    /// The name this client gives in `EHLO`.
    public var heloName: String
    public var timeout: TimeAmount
    /// PEM certificates to trust instead of the system's (a private CA, a test server).
    public var trustRootsPEM: String?

    public init(
        host: String, port: Int, security: SMTPSecurity = .none, username: String? = nil, password: String? = nil,
        heloName: String = "localhost", timeout: TimeAmount = .seconds(15), trustRootsPEM: String? = nil
    ) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.heloName = heloName
        self.timeout = timeout
        self.trustRootsPEM = trustRootsPEM
    }
}

/// The server said no (or said something this client cannot follow).
public struct SMTPError: Error, CustomStringConvertible, Sendable {
    public let stage: String
    public let reply: String
    public var description: String { "SMTP \(stage): \(reply)" }
}

/// Delivers over SMTP: EHLO, STARTTLS or implicit TLS, AUTH PLAIN or LOGIN, then one
/// transaction per envelope with dot-stuffing, and QUIT. A batch shares one connection
/// (one handshake, one TLS negotiation, one login), as any mail client does: after a
/// message the server refuses, `RSET` and go on; if the connection is lost, the rest go
/// over a new one.
public struct SMTPTransport: MailTransport {
    public let configuration: SMTPConfiguration

    public init(configuration: SMTPConfiguration) {
        self.configuration = configuration
    }

    public func deliver(_ envelope: MailEnvelope) async throws {
        if let failure = await deliver(batch: [envelope]).first ?? nil { throw failure }
    }

    public func deliver(batch envelopes: [MailEnvelope]) async -> [(any Error)?] {
        var outcomes: [(any Error)?] = []
        while outcomes.count < envelopes.count {
            outcomes += await deliverOverOneConnection(envelopes[outcomes.count...])
        }
        return outcomes
    }

    /// Delivers from the front of `envelopes` until the connection is lost, and returns
    /// the outcomes of those it got to: at least one, so a batch always moves on.
    private func deliverOverOneConnection(_ envelopes: ArraySlice<MailEnvelope>) async -> [(any Error)?] {
        let session: SMTPSession
        do {
            session = try await SMTPSession.open(configuration)
        } catch {
            return envelopes.map { _ in error }
        }
        defer { session.close() }
        var outcomes: [(any Error)?] = []
        for envelope in envelopes {
            do {
                try await session.send(envelope)
                outcomes.append(nil)
            } catch SMTPSession.Failure.hungUp(let error) {
                // The server hung up between messages (some limit messages per
                // connection) and accepted nothing of this one: it goes again over a new
                // connection, unless this connection had carried none.
                return outcomes.isEmpty ? [error] : outcomes
            } catch {
                outcomes.append(error)
                guard outcomes.count < envelopes.count else { break }
                do {
                    try await session.reset()
                } catch {
                    return outcomes
                }
            }
        }
        await session.quit()
        return outcomes
    }

    /// The message as DATA carries it: a leading "." doubled on every line, CRLF at the
    /// end, then the terminating "." line (RFC 5321 §4.5.2).
    static func dotStuffed(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        var atLineStart = true
        for byte in data {
            if atLineStart && byte == UInt8(ascii: ".") { out.append(UInt8(ascii: ".")) }
            out.append(byte)
            atLineStart = byte == 0x0A
        }
        if !(out.count >= 2 && out[out.count - 2] == 0x0D && out[out.count - 1] == 0x0A) {
            out.append(contentsOf: [0x0D, 0x0A])
        }
        out.append(contentsOf: Array(".\r\n".utf8))
        return out
    }
}

/// One SMTP connection, greeted, secured and logged in, for a batch of transactions.
/// Each step has the configuration's timeout: closing the channel ends any wait.
final class SMTPSession {
    let configuration: SMTPConfiguration
    let channel: any Channel
    var replies: AsyncThrowingStream<String, any Error>.AsyncIterator
    var deadline: Scheduled<Void>?

    private init(configuration: SMTPConfiguration, channel: any Channel, replies: AsyncThrowingStream<String, any Error>) {
        self.configuration = configuration
        self.channel = channel
        self.replies = replies.makeAsyncIterator()
        restartDeadline()
    }

    static func open(_ configuration: SMTPConfiguration) async throws -> SMTPSession {
        let (stream, continuation) = AsyncThrowingStream<String, any Error>.makeStream()
        var tls: NIOSSLContext?
        if configuration.security != .none {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            if let pem = configuration.trustRootsPEM {
                tlsConfiguration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
            }
            tls = try NIOSSLContext(configuration: tlsConfiguration)
        }
        let implicitTLS = configuration.security == .tls ? tls : nil
        // SNI takes a name, never an address; the certificate is still checked against it.
        let serverName = configuration.host.contains(where: { $0.isLetter }) && !configuration.host.contains(":")
            ? configuration.host : nil
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let implicitTLS {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: implicitTLS, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(SMTPLineReader(continuation: continuation))
                }
            }
            .connect(host: configuration.host, port: configuration.port).get()
        let session = SMTPSession(configuration: configuration, channel: channel, replies: stream)
        do {
            try await session.greet(tls: tls, serverName: serverName)
        } catch {
            session.close()
            throw error
        }
        return session
    }

    private func greet(tls: NIOSSLContext?, serverName: String?) async throws {
        _ = try await reply("greeting", expecting: 220...220)
        try await send("EHLO \(configuration.heloName)")
        var capabilities = try await reply("EHLO", expecting: 250...250)
        if configuration.security == .starttls {
            guard capabilities.contains(where: { $0.dropFirst(4).uppercased().hasPrefix("STARTTLS") }) else {
                throw SMTPError(stage: "STARTTLS", reply: "the server does not offer STARTTLS")
            }
            try await send("STARTTLS")
            _ = try await reply("STARTTLS", expecting: 220...220)
            let context = tls!
            let channel = self.channel
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(
                    try NIOSSLClientHandler(context: context, serverHostname: serverName), position: .first)
            }.get()
            try await send("EHLO \(configuration.heloName)")
            capabilities = try await reply("EHLO", expecting: 250...250)
        }
        if let username = configuration.username, let password = configuration.password {
            let auth = capabilities.first { $0.dropFirst(4).uppercased().hasPrefix("AUTH") }?.uppercased() ?? ""
            if auth.contains("PLAIN") || !auth.contains("LOGIN") {
                let token = Data("\0\(username)\0\(password)".utf8).base64EncodedString()
                try await send("AUTH PLAIN \(token)")
                _ = try await reply("AUTH", expecting: 235...235)
            } else {
                try await send("AUTH LOGIN")
                _ = try await reply("AUTH", expecting: 334...334)
                try await send(Data(username.utf8).base64EncodedString())
                _ = try await reply("AUTH", expecting: 334...334)
                try await send(Data(password.utf8).base64EncodedString())
                _ = try await reply("AUTH", expecting: 235...235)
            }
        }
    }

    enum Failure: Error {
        /// The connection was gone before the transaction's first reply: the server
        /// accepted nothing of it.
        case hungUp(any Error)
    }

    /// One mail transaction.
    func send(_ envelope: MailEnvelope) async throws {
        restartDeadline()
        do {
            try await send("MAIL FROM:<\(envelope.sender)>")
            _ = try await reply("MAIL FROM", expecting: 250...250)
        } catch let error as SMTPError where error.reply != Self.closed {
            throw error
        } catch {
            throw Failure.hungUp(error)
        }
        for recipient in envelope.recipients {
            try await send("RCPT TO:<\(recipient)>")
            _ = try await reply("RCPT TO \(recipient)", expecting: 250...251)
        }
        try await send("DATA")
        _ = try await reply("DATA", expecting: 354...354)
        try await channel.writeAndFlush(ByteBuffer(bytes: SMTPTransport.dotStuffed(envelope.data))).get()
        _ = try await reply("message", expecting: 250...250)
    }

    /// Abandons a refused transaction so the next can start.
    func reset() async throws {
        restartDeadline()
        try await send("RSET")
        _ = try await reply("RSET", expecting: 250...250)
    }

    static let closed = "connection closed"

    func quit() async {
        try? await send("QUIT")
    }

    func close() {
        deadline?.cancel()
        channel.close(promise: nil)
    }

    private func restartDeadline() {
        deadline?.cancel()
        let channel = self.channel
        deadline = channel.eventLoop.scheduleTask(in: configuration.timeout) { channel.close(promise: nil) }
    }

    private func reply(_ stage: String, expecting codes: ClosedRange<Int>) async throws -> [String] {
        var lines: [String] = []
        while true {
            guard let line = try await replies.next() else {
                throw SMTPError(stage: stage, reply: Self.closed)
            }
            lines.append(line)
            let bytes = Array(line.utf8)
            if bytes.count < 4 || bytes[3] != UInt8(ascii: "-") { break }
        }
        guard let last = lines.last, let code = Int(last.prefix(3)), codes.contains(code) else {
            throw SMTPError(stage: stage, reply: lines.joined(separator: " | "))
        }
        return lines
    }

    private func send(_ line: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: line + "\r\n")).get()
    }
}

/// Splits what the server sends into lines (without CRLF) for the conversation above.
final class SMTPLineReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let continuation: AsyncThrowingStream<String, any Error>.Continuation
    var pending = ByteBuffer()

    init(continuation: AsyncThrowingStream<String, any Error>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        while let newline = pending.readableBytesView.firstIndex(of: 0x0A) {
            let length = newline - pending.readerIndex
            var line = pending.readString(length: length) ?? ""
            pending.moveReaderIndex(forwardBy: 1)
            if line.hasSuffix("\r") { line.removeLast() }
            continuation.yield(line)
        }
        if pending.readableBytes > 64 * 1024 {
            continuation.finish(throwing: SMTPError(stage: "reply", reply: "line too long"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }
}
