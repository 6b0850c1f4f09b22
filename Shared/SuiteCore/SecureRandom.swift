#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Random identifiers and secrets from the system CSPRNG (getrandom(2) on Linux, one
/// call per 256 bytes).
public enum SecureRandom {
    public static let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    public static func bytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    /// Fills `buffer` from the kernel's CSPRNG, 256 bytes per call (getentropy(3), which
    /// is getrandom(2)); `SystemRandomNumberGenerator` makes a system call per 8 bytes.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        var filled = 0
        #if canImport(Glibc)
        while filled < buffer.count {
            let chunk = min(256, buffer.count - filled)
            guard getentropy(base + filled, chunk) == 0 else { break }
            filled += chunk
        }
        #endif
        var generator = SystemRandomNumberGenerator()
        while filled < buffer.count {
            base.storeBytes(of: UInt8(truncatingIfNeeded: generator.next() as UInt64), toByteOffset: filled, as: UInt8.self)
            filled += 1
        }
    }

    /// A string of `count` characters drawn uniformly from `alphabet` (at most 256):
    /// random bytes at or above the largest multiple of the alphabet's size are drawn
    /// again, so no character is likelier than another.
    public static func string(count: Int, alphabet: [UInt8] = alphanumerics) -> String {
        precondition((1...256).contains(alphabet.count))
        let limit = 256 - 256 % alphabet.count
        var chars: [UInt8] = []
        chars.reserveCapacity(count)
        var pool = [UInt8](repeating: 0, count: min(256, count + count / 8 + 8))
        while chars.count < count {
            pool.withUnsafeMutableBytes { fill($0) }
            for byte in pool where Int(byte) < limit && chars.count < count {
                chars.append(alphabet[Int(byte) % alphabet.count])
            }
        }
        return String(decoding: chars, as: UTF8.self)
    }

    /// Lowercase hex of `byteCount` random bytes (trace ids, request ids).
    public static func hex(byteCount: Int) -> String {
        hexString(bytes(byteCount))
    }

    public static func hexString(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
