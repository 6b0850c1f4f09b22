public import Crypto
import Foundation
public import SuiteCore

/// Who may call this service's `/internal/` routes, and how their keys are known.
public struct ServiceTrust: Sendable {
    public enum KeySource: Sendable {
        /// Keys written in the configuration, by `kid`.
        case keys([String: Curve25519.Signing.PublicKey])
        /// A JWK Set URL (the peer's `/internal/jwks.json`), fetched and cached, and
        /// fetched again when a token names a `kid` not seen yet.
        case jwks(url: String)
    }

    public var issuers: [String: KeySource]

    public init(issuers: [String: KeySource]) {
        self.issuers = issuers
    }

    /// Reads `TRUSTED_SERVICES`: `name=value,…` where a value is a JWKS URL or a base64
    /// Ed25519 public key, optionally `kid:ID:` first. A name may appear more than once
    /// with keys (several keys during a rotation).
    public static func parse(_ text: String, variable: String = "TRUSTED_SERVICES") throws(ConfigurationError) -> ServiceTrust {
        var issuers: [String: KeySource] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            guard let equals = entry.firstIndex(of: "=") else {
                throw ConfigurationError(variable, "entry \"\(entry)\" must be name=jwks-url or name=public-key")
            }
            let name = String(entry[..<equals])
            let value = String(entry[entry.index(after: equals)...])
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ConfigurationError(variable, "service name \"\(name)\" may hold letters, digits, - and _ only")
            }
            if value.hasPrefix("http://") || value.hasPrefix("https://") {
                if issuers[name] != nil { throw ConfigurationError(variable, "\(name) is listed twice") }
                issuers[name] = .jwks(url: value)
                continue
            }
            var keyText = value
            var kid: String?
            if keyText.hasPrefix("kid:"), let end = keyText.dropFirst(4).firstIndex(of: ":") {
                kid = String(keyText[keyText.index(keyText.startIndex, offsetBy: 4)..<end])
                keyText = String(keyText[keyText.index(after: end)...])
            }
            guard let raw = Base64URL.decode(keyText), raw.count == 32,
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
            else {
                throw ConfigurationError(variable, "the key of \(name) is neither a JWKS URL nor a base64 Ed25519 public key")
            }
            var keys: [String: Curve25519.Signing.PublicKey] = [:]
            if case .keys(let existing) = issuers[name] { keys = existing }
            else if issuers[name] != nil { throw ConfigurationError(variable, "\(name) mixes a JWKS URL and keys") }
            keys[kid ?? JWKS.thumbprint(ofEd25519: key)] = key
            issuers[name] = .keys(keys)
        }
        return ServiceTrust(issuers: issuers)
    }
}
