import Crypto
import NIOCore
import SuiteCore

/// The one-use secrets of this service (invitation ids, activation codes, password
/// reset and email change links): 256 bits from the system CSPRNG, written as 43
/// URL-safe characters, and kept in the database only as their SHA-256, so a copy of
/// the database cannot be used to take over an account.
enum Secret {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func make() -> String {
        // 64 symbols: each byte's low six bits are uniform, so no modulo bias.
        String(decoding: SecureRandom.bytes(43).map { alphabet[Int($0 & 63)] }, as: UTF8.self)
    }

    /// The stored form. Lookups go by this digest with an index, so the comparison
    /// happens on a hash of the secret, not on the secret byte by byte.
    static func digest(_ secret: String) -> ByteBuffer {
        ByteBuffer(bytes: SHA256.hash(data: Array(secret.utf8)))
    }

    /// Whether a path segment could be one of our secrets at all: spares the database
    /// a lookup for garbage and keeps odd bytes out of logs.
    static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 43 && text.utf8.allSatisfy { alphabetSet.contains($0) }
    }

    private static let alphabetSet = Set(alphabet)
}
