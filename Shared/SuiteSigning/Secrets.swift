import Crypto
import Foundation

/// Constant-time comparison of two byte strings of any length (the length is not secret).
/// Inlinable, so each caller gets a copy specialised for its collections: the generic
/// form looks up type metadata for every byte.
@inlinable
public func constantTimeEquals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for (a, b) in zip(lhs, rhs) { difference |= a ^ b }
    return difference == 0
}

/// SHA-256 of a text's UTF-8: the stored form of every high-entropy secret (client
/// secrets, API keys, tokens, codes).
public func sha256(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Array(text.utf8))) }
