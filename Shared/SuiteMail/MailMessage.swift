import Foundation
import SuiteCore

/// What a transport delivers: the SMTP envelope and the message bytes (RFC 5322, CRLF).
public struct MailEnvelope: Sendable, Equatable {
    public let sender: String
    public let recipients: [String]
    public let data: [UInt8]

    public init(sender: String, recipients: [String], data: [UInt8]) {
        self.sender = sender
        self.recipients = recipients
        // Every line ends in CRLF, whatever the template or the platform wrote.
        self.data = MailMessage.normalizeLineEndings(data)
    }
}

/// A message built from parts: headers encoded for UTF-8 (RFC 2047), bodies in base64
/// so any text survives any relay, `multipart/alternative` when there is HTML.
public struct MailMessage: Sendable {
    public var from: String
    public var fromName: String?
    public var to: [String]
    public var subject: String
    public var text: String
    public var html: String?
    public var extraHeaders: [(String, String)]

    public init(
        from: String, fromName: String? = nil, to: [String], subject: String, text: String, html: String? = nil,
        extraHeaders: [(String, String)] = []
    ) {
        self.from = from
        self.fromName = fromName
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.extraHeaders = extraHeaders
    }

    /// The envelope for this message, with a new Message-ID and the given date.
    public func envelope(date: Date = Date(), messageID: String? = nil) -> MailEnvelope {
        let domain = from.split(separator: "@").last.map(String.init) ?? "localhost"
        let id = messageID ?? "<\(SecureRandom.hex(byteCount: 12))@\(domain)>"
        var lines: [String] = [
            "From: " + (fromName.map { Self.encodeWord($0) + " <\(from)>" } ?? from),
            "To: " + to.joined(separator: ", "),
            "Subject: " + Self.encodeWord(subject),
            "Date: " + Self.rfc5322Date(date),
            "Message-ID: " + id,
            "MIME-Version: 1.0",
        ]
        for (name, value) in extraHeaders { lines.append("\(name): \(Self.encodeWord(value))") }
        if let html {
            let boundary = "=_" + SecureRandom.hex(byteCount: 12)
            lines.append("Content-Type: multipart/alternative; boundary=\"\(boundary)\"")
            lines.append("")
            lines.append("--\(boundary)")
            lines.append(contentsOf: Self.part(type: "text/plain", body: text))
            lines.append("--\(boundary)")
            lines.append(contentsOf: Self.part(type: "text/html", body: html))
            lines.append("--\(boundary)--")
        } else {
            lines.append(contentsOf: Self.part(type: "text/plain", body: text))
        }
        return MailEnvelope(sender: from, recipients: to, data: Array((lines.joined(separator: "\r\n") + "\r\n").utf8))
    }

    static func part(type: String, body: String) -> [String] {
        let encoded = Data(body.utf8).base64EncodedString()
        var lines = ["Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: base64", ""]
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let end = encoded.index(index, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
            lines.append(String(encoded[index..<end]))
            index = end
        }
        return lines
    }

    /// An RFC 2047 encoded-word when the text is not plain printable ASCII.
    public static func encodeWord(_ text: String) -> String {
        let plain = text.utf8.allSatisfy { (0x20...0x7E).contains($0) }
        return plain ? text : "=?UTF-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    /// `Mon, 23 Nov 2026 01:28:59 +0000` (RFC 5322), from the C library: no formatter is
    /// built per message.
    public static func rfc5322Date(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }

    /// Rewrites lone LF and lone CR as CRLF.
    static func normalizeLineEndings(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + data.count / 40)
        var index = 0
        while index < data.count {
            let byte = data[index]
            if byte == 0x0D {
                out.append(contentsOf: [0x0D, 0x0A])
                if index + 1 < data.count, data[index + 1] == 0x0A { index += 1 }
            } else if byte == 0x0A {
                out.append(contentsOf: [0x0D, 0x0A])
            } else {
                out.append(byte)
            }
            index += 1
        }
        return out
    }
}
