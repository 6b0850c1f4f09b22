import HummingbirdBcrypt
import NIOPosix

/// bcrypt, always on NIO's thread pool: a hash at cost 12 takes a quarter of a second
/// of CPU, which on an event loop would stall every other request.
struct PasswordHasher: Sendable {
    let cost: Int

    /// bcrypt reads at most 72 bytes; longer passwords are refused rather than silently
    /// truncated (two passwords sharing 72 bytes would both open the account).
    static let maximumBytes = 72
    static let minimumLength = 6

    func hash(_ password: String) async throws -> String {
        let cost = UInt8(cost)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
