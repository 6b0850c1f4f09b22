/// Random identifiers and secrets from the system CSPRNG (`SystemRandomNumberGenerator`
/// reads getrandom(2) on Linux).
public enum SecureRandom {
    public static let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    public static func bytes(_ count: Int) -> [UInt8] {
        // Eight bytes per draw: each draw is a getrandom(2) call.
        var generator = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(count + 7)
        while out.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { out.append(contentsOf: $0) }
        }
        out.removeLast(out.count - count)
        return out
    }

    /// A string of `count` characters drawn uniformly from `alphabet`.
    public static func string(count: Int, alphabet: [UInt8] = alphanumerics) -> String {
        var generator = SystemRandomNumberGenerator()
        let chars = (0..<count).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
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
