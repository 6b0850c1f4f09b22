import Foundation
import NIOPosix

/// Delivers one envelope, or throws so the outbox tries again later.
public protocol MailTransport: Sendable {
    func deliver(_ envelope: MailEnvelope) async throws
    /// Delivers several (a transport may share a connection among them) and tells each
    /// one's outcome, in order: nil when delivered.
    func deliver(batch envelopes: [MailEnvelope]) async -> [(any Error)?]
}

extension MailTransport {
    public func deliver(batch envelopes: [MailEnvelope]) async -> [(any Error)?] {
        var outcomes: [(any Error)?] = []
        for envelope in envelopes {
            do {
                try await deliver(envelope)
                outcomes.append(nil)
            } catch {
                outcomes.append(error)
            }
        }
        return outcomes
    }
}

/// Writes each message as one `.eml` file in a folder: what `make run` uses when no SMTP
/// server is configured. Files appear whole (written aside, then renamed).
public struct FileMailTransport: MailTransport {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public func deliver(_ envelope: MailEnvelope) async throws {
        let directory = self.directory
        try await NIOThreadPool.singleton.runIfActive {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let stamp = String(Int(Date().timeIntervalSince1970 * 1000))
            let name = "\(stamp)-\(UUID().uuidString.prefix(8).lowercased()).eml"
            let temporary = URL(fileURLWithPath: directory).appendingPathComponent("." + name)
            try Data(envelope.data).write(to: temporary)
            try FileManager.default.moveItem(at: temporary, to: URL(fileURLWithPath: directory).appendingPathComponent(name))
        }
    }
}
