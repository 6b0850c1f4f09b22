import Foundation
import Crypto
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import X509

/// A certificate for the sink, signed by itself, for `localhost`.
public struct SinkCertificate: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String

    public static func selfSigned(hostname: String = "localhost") throws -> SinkCertificate {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(hostname) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(3600),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                SubjectAlternativeNames([.dnsName(hostname)])
            },
            issuerPrivateKey: .init(key))
        return SinkCertificate(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }

    func serverContext() throws -> NIOSSLContext {
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)))
        return try NIOSSLContext(configuration: configuration)
    }
}

/// How the sink offers TLS.
public enum SinkTLS: Sendable {
    case starttls(SinkCertificate)
    case implicit(SinkCertificate)
}

/// A mail received by the sink, as the SMTP conversation delivered it.
public struct ReceivedMail: Sendable {
    public let sender: String
    public let recipients: [String]
    /// The message with dot-stuffing undone, CRLF line ends.
    public let data: String
    /// The user that authenticated, if the client did.
    public let authenticatedAs: String?

    public func header(_ name: String) -> String? {
        for line in data.components(separatedBy: "\r\n") {
            if line.isEmpty { break }
            if line.lowercased().hasPrefix(name.lowercased() + ":") {
                return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// The body after the headers, base64 parts decoded, for tests that look for a link.
    public var text: String {
        let parts = data.components(separatedBy: "\r\n\r\n")
        let body = parts.dropFirst().joined(separator: "\r\n\r\n")
        if data.lowercased().contains("content-transfer-encoding: base64") {
            var decoded = ""
            for block in parts.dropFirst() {
                let lines = block.components(separatedBy: "\r\n").prefix { !$0.hasPrefix("--") }
                if let bytes = Data(base64Encoded: lines.joined()) { decoded += String(decoding: bytes, as: UTF8.self) }
            }
            if !decoded.isEmpty { return decoded }
        }
        return body
    }
}

/// An SMTP server for tests that speaks the protocol for real (EHLO, AUTH PLAIN/LOGIN,
/// MAIL, RCPT, DATA with dot-stuffing, RSET, NOOP, QUIT) and keeps what it receives.
public final class SMTPSink: Sendable {
    public let port: Int
    let channel: any Channel
    let box: SinkBox

    /// Starts a sink on a free loopback port. `credentials` makes AUTH required;
    /// `rejectRecipient` answers 550 for the addresses it matches;
    /// `messagesPerConnection` hangs up at the next message after that many on a connection;
    /// `hangUpAtRecipient` hangs up in the middle of a message to the addresses it matches.
    public static func start(
        credentials: (user: String, password: String)? = nil,
        tls: SinkTLS? = nil,
        rejectRecipient: @escaping @Sendable (String) -> Bool = { _ in false },
        messagesPerConnection: Int? = nil,
        hangUpAtRecipient: @escaping @Sendable (String) -> Bool = { _ in false }
    ) async throws -> SMTPSink {
        var starttls: NIOSSLContext?
        var implicit: NIOSSLContext?
        switch tls {
        case .starttls(let certificate): starttls = try certificate.serverContext()
        case .implicit(let certificate): implicit = try certificate.serverContext()
        case nil: break
        }
        let box = SinkBox(
            credentials: credentials, rejects: rejectRecipient, starttls: starttls, messagesPerConnection: messagesPerConnection,
            hangsUp: hangUpAtRecipient)
        let implicitContext = implicit
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let implicitContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: implicitContext))
                    }
                    try channel.pipeline.syncOperations.addHandler(SMTPSinkHandler(box: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return SMTPSink(port: channel.localAddress?.port ?? 0, channel: channel, box: box)
    }

    init(port: Int, channel: any Channel, box: SinkBox) {
        self.port = port
        self.channel = channel
        self.box = box
    }

    public var messages: [ReceivedMail] { box.received.withLock { $0 } }
    /// How many connections clients opened.
    public var connections: Int { box.connections.withLock { $0 } }

    /// Waits until a mail for `recipient` has arrived, for up to `seconds`.
    public func waitForMail(to recipient: String, seconds: Double = 10) async throws -> ReceivedMail {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let mail = messages.last(where: { $0.recipients.contains(recipient) }) { return mail }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw SinkTimeout(recipient: recipient)
    }

    public func stop() async {
        try? await channel.close()
    }

    struct SinkTimeout: Error, CustomStringConvertible {
        let recipient: String
        var description: String { "no mail for \(recipient) reached the SMTP sink" }
    }
}

final class SinkBox: Sendable {
    let received = Mutex<[ReceivedMail]>([])
    let credentials: (user: String, password: String)?
    let rejects: @Sendable (String) -> Bool
    let starttls: NIOSSLContext?
    /// Connections accepted so far.
    let connections = Mutex(0)
    /// Hang up at the next MAIL FROM after this many messages on one connection (a
    /// server that limits them).
    let messagesPerConnection: Int?
    let hangsUp: @Sendable (String) -> Bool

    init(
        credentials: (user: String, password: String)?, rejects: @escaping @Sendable (String) -> Bool,
        starttls: NIOSSLContext?, messagesPerConnection: Int? = nil, hangsUp: @escaping @Sendable (String) -> Bool = { _ in false }
    ) {
        self.starttls = starttls
        self.messagesPerConnection = messagesPerConnection
        self.hangsUp = hangsUp
        self.credentials = credentials
        self.rejects = rejects
    }
}

/// One SMTP session, on the connection's event loop.
final class SMTPSinkHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Mode { case command, data, authLoginUser, authLoginPassword(user: String) }

    let box: SinkBox
    var pending = ByteBuffer()
    var mode = Mode.command
    var sender: String?
    var recipients: [String] = []
    var dataLines: [String] = []
    var user: String?
    var tlsStarted = false

    init(box: SinkBox) {
        self.box = box
    }

    var messagesHere = 0

    func channelActive(context: ChannelHandlerContext) {
        box.connections.withLock { $0 += 1 }
        reply(context, "220 sink.test ESMTP ready")
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        while let newline = pending.readableBytesView.firstIndex(of: 0x0A) {
            var line = pending.readString(length: newline - pending.readerIndex) ?? ""
            pending.moveReaderIndex(forwardBy: 1)
            if line.hasSuffix("\r") { line.removeLast() }
            handle(line, context: context)
        }
    }

    func reply(_ context: ChannelHandlerContext, _ text: String) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
    }

    func authenticate(_ user: String, _ password: String, context: ChannelHandlerContext) {
        if let credentials = box.credentials, credentials.user == user, credentials.password == password {
            self.user = user
            reply(context, "235 2.7.0 Authentication successful")
        } else {
            reply(context, "535 5.7.8 Authentication credentials invalid")
        }
    }

    func handle(_ line: String, context: ChannelHandlerContext) {
        switch mode {
        case .data:
            if line == "." {
                let mail = ReceivedMail(
                    sender: sender ?? "", recipients: recipients, data: dataLines.joined(separator: "\r\n") + "\r\n",
                    authenticatedAs: user)
                box.received.withLock { $0.append(mail) }
                mode = .command
                sender = nil
                recipients = []
                dataLines = []
                reply(context, "250 2.0.0 Ok: queued")
                messagesHere += 1
            } else {
                dataLines.append(line.hasPrefix(".") ? String(line.dropFirst()) : line)
            }
            return
        case .authLoginUser:
            let user = Data(base64Encoded: line).map { String(decoding: $0, as: UTF8.self) } ?? ""
            mode = .authLoginPassword(user: user)
            reply(context, "334 UGFzc3dvcmQ6")
            return
        case .authLoginPassword(let user):
            mode = .command
            authenticate(user, Data(base64Encoded: line).map { String(decoding: $0, as: UTF8.self) } ?? "", context: context)
            return
        case .command:
            break
        }
        let upper = line.uppercased()
        let needsAuth = box.credentials != nil && user == nil
        if upper.hasPrefix("EHLO") || upper.hasPrefix("HELO") {
            let offerTLS = box.starttls != nil && !tlsStarted ? "250-STARTTLS\r\n" : ""
            reply(context, "250-sink.test\r\n250-8BITMIME\r\n\(offerTLS)250-AUTH PLAIN LOGIN\r\n250 SIZE 10485760")
        } else if upper == "STARTTLS", let tls = box.starttls, !tlsStarted {
            // The 220 goes out in clear; TLS starts right after it (RFC 3207), and the
            // session starts over.
            tlsStarted = true
            sender = nil
            recipients = []
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "220 2.0.0 Ready to start TLS\r\n")))
                .assumeIsolated().whenSuccess {
                    try? channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
                }
        } else if upper.hasPrefix("AUTH PLAIN ") {
            let decoded = Data(base64Encoded: String(line.dropFirst(11))).map { Array($0) } ?? []
            let parts = decoded.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            authenticate(parts.count == 3 ? parts[1] : "", parts.count == 3 ? parts[2] : "", context: context)
        } else if upper == "AUTH LOGIN" {
            mode = .authLoginUser
            reply(context, "334 VXNlcm5hbWU6")
        } else if upper.hasPrefix("MAIL FROM:"), let limit = box.messagesPerConnection, messagesHere >= limit {
            context.close(promise: nil)
        } else if upper.hasPrefix("MAIL FROM:") {
            if needsAuth { return reply(context, "530 5.7.0 Authentication required") }
            sender = Self.address(line.dropFirst(10))
            recipients = []
            reply(context, "250 2.1.0 Ok")
        } else if upper.hasPrefix("RCPT TO:") {
            guard sender != nil else { return reply(context, "503 5.5.1 MAIL first") }
            let recipient = Self.address(line.dropFirst(8))
            if box.rejects(recipient) { return reply(context, "550 5.1.1 No such user") }
            if box.hangsUp(recipient) { return context.close(promise: nil) }
            recipients.append(recipient)
            reply(context, "250 2.1.5 Ok")
        } else if upper == "DATA" {
            guard !recipients.isEmpty else { return reply(context, "503 5.5.1 RCPT first") }
            mode = .data
            reply(context, "354 End data with <CR><LF>.<CR><LF>")
        } else if upper == "RSET" {
            sender = nil
            recipients = []
            reply(context, "250 2.0.0 Ok")
        } else if upper == "NOOP" {
            reply(context, "250 2.0.0 Ok")
        } else if upper == "QUIT" {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "221 2.0.0 Bye\r\n"))).whenComplete { _ in
                channel.close(promise: nil)
            }
        } else {
            reply(context, "502 5.5.2 Command not recognized")
        }
    }

    static func address(_ text: Substring) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let open = trimmed.firstIndex(of: "<"), let close = trimmed.firstIndex(of: ">") else { return trimmed }
        return String(trimmed[trimmed.index(after: open)..<close])
    }
}
