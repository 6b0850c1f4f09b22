public import Foundation

/// Unpadded base64url (RFC 4648 §5), as JOSE writes it.
public enum Base64URL {
    public static func encode(_ bytes: some DataProtocol) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// Decodes base64url or standard base64, padded or not; nil for anything else.
    public static func decode(_ text: some StringProtocol) -> Data? {
        var normal = String(text).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !normal.contains("=") || normal.hasSuffix("=") else { return nil }
        while normal.hasSuffix("=") { normal.removeLast() }
        let remainder = normal.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { normal += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: normal)
    }
}
