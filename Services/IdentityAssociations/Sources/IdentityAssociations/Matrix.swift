import Crypto
import Foundation
import Hummingbird
import SuiteCore
import SuiteHTTP
import SuiteSigning

/// Matrix conventions this service speaks: errors, unpadded base64, signed JSON, and
/// request bodies that may be JSON or (for older clients) form-encoded.
enum Matrix {
    static func error(_ status: HTTPResponse.Status, _ errcode: String, _ message: String) -> AppError {
        AppError(status: status, code: errcode, detail: message)
    }

    static func missing(_ names: [String]) -> AppError {
        error(.badRequest, "M_MISSING_PARAMS", "Missing parameters: " + names.joined(separator: ", "))
    }

    static func invalid(_ message: String) -> AppError {
        error(.badRequest, "M_INVALID_PARAM", message)
    }

    /// Standard base64 without `=` padding, as Matrix writes keys and signatures.
    static func unpaddedBase64(_ bytes: some DataProtocol) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// Signs `object` as Matrix signed JSON: the canonical JSON of the object without
    /// `signatures` and `unsigned` is signed, and the signature is added under
    /// `signatures[server][keyID]`, beside any signatures already there.
    static func sign(
        _ object: [String: JSONValue], server: String, keyID: String = IdentitySettings.keyID, key: Curve25519.Signing.PrivateKey
    ) -> [String: JSONValue] {
        var unsigned = object
        let existing = unsigned.removeValue(forKey: "signatures")?.objectValue ?? [:]
        let extra = unsigned.removeValue(forKey: "unsigned")
        let message = CanonicalJSON.bytes(.object(unsigned))
        // Ed25519 signing does not fail for a valid key.
        let signature = (try? key.signature(for: message)) ?? Data()
        var signatures = existing
        var mine = signatures[server]?.objectValue ?? [:]
        mine[keyID] = .string(unpaddedBase64(signature))
        signatures[server] = .object(mine)
        var signed = unsigned
        signed["signatures"] = .object(signatures)
        if let extra { signed["unsigned"] = extra }
        return signed
    }

    /// The response bytes of `object` signed by this server alone: its canonical JSON,
    /// which is what gets signed, with `signatures` added before the closing brace (a
    /// verifier canonicalizes again, so member order in the response does not matter).
    /// One serialization instead of two on the lookup path.
    static func signedBytes(
        _ object: [String: JSONValue], server: String, keyID: String = IdentitySettings.keyID, key: Curve25519.Signing.PrivateKey
    ) -> [UInt8] {
        var out = CanonicalJSON.bytes(.object(object))
        let signature = (try? key.signature(for: out)) ?? Data()
        out.removeLast()
        out.append(contentsOf: object.isEmpty ? Array(#""signatures":{"#.utf8) : Array(#","signatures":{"#.utf8))
        CanonicalJSON.writeString(server, into: &out)
        out.append(contentsOf: Array(":{".utf8))
        CanonicalJSON.writeString(keyID, into: &out)
        out.append(UInt8(ascii: ":"))
        CanonicalJSON.writeString(unpaddedBase64(signature), into: &out)
        out.append(contentsOf: Array("}}}".utf8))
        return out
    }

    /// Whether `object` carries a valid signature by `server`'s `keyID` made with `publicKey`.
    static func verify(_ object: [String: JSONValue], server: String, keyID: String, publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let text = object["signatures"]?[server]?[keyID]?.stringValue, let signature = Base64URL.decode(text) else { return false }
        var unsigned = object
        unsigned["signatures"] = nil
        unsigned["unsigned"] = nil
        return publicKey.isValidSignature(signature, for: CanonicalJSON.bytes(.object(unsigned)))
    }

    /// An email address as sydent stores and compares it: Unicode case folding (Python's
    /// `str.casefold`), so `Straße@Example.org` is `strasse@example.org` and a final `ς`
    /// is `σ`, where `lowercased()` keeps both. Imported sydent data and addresses
    /// validated here meet. ASCII, nearly every address, folds without Foundation.
    static func foldedEmail(_ raw: String) -> String {
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.utf8.allSatisfy({ $0 < 0x80 }) { return trimmed.lowercased() }
        return trimmed.folding(options: .caseInsensitive, locale: nil)
    }

    static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// A `client_secret` as the spec allows it: `[0-9a-zA-Z.=_-]{1,255}`.
    static func isClientSecret(_ text: String) -> Bool {
        let bytes = text.utf8
        return (1...255).contains(bytes.count) && bytes.allSatisfy { clientSecretBytes.contains($0) }
    }

    private static let clientSecretBytes = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.=_-".utf8)

    /// A Matrix user ID: `@localpart:server`, at most 255 bytes.
    static func isUserID(_ text: String) -> Bool {
        guard text.utf8.count <= 255, text.hasPrefix("@"), let colon = text.firstIndex(of: ":") else { return false }
        let local = text[text.index(after: text.startIndex)..<colon]
        let server = text[text.index(after: colon)...]
        return !local.isEmpty && !server.isEmpty && !text.contains(where: { $0.isWhitespace || $0.isNewline || $0 == "\u{0}" })
    }

    /// The server name of a user ID (`@a:example.org:8448` → `example.org:8448`).
    static func serverName(ofUserID userID: String) -> String? {
        guard let colon = userID.firstIndex(of: ":") else { return nil }
        return String(userID[userID.index(after: colon)...])
    }
}

/// A request's parameters, from a JSON object body or a form-encoded one (older
/// clients), with Matrix's errors for what is missing or of the wrong kind.
struct MatrixParameters: Sendable {
    var values: [String: JSONValue]

    static func read(_ request: Request, context: SuiteContext) async throws -> MatrixParameters {
        var request = request
        let contentType = request.headers[.contentType].map(Request.mediaType) ?? "application/json"
        let buffer = try await request.collectBody(upTo: context.bodyLimit)
        if contentType == "application/x-www-form-urlencoded" {
            let form = try Request.parseForm(String(buffer: buffer))
            return MatrixParameters(values: form.mapValues { .string($0) })
        }
        guard Request.isJSON(contentType) else {
            throw Matrix.error(.unsupportedMediaType, "M_NOT_JSON", "The body must be JSON (or form-encoded).")
        }
        if buffer.readableBytes == 0 { return MatrixParameters(values: [:]) }
        guard let value = try? JSONParser.parse(buffer.readableBytesView), case .object(let object) = value else {
            throw Matrix.error(.badRequest, "M_NOT_JSON", "The body is not a JSON object.")
        }
        return MatrixParameters(values: object)
    }

    static func query(_ request: Request) -> MatrixParameters {
        var values: [String: JSONValue] = [:]
        for (name, value) in request.uri.queryParameters where values[String(name)] == nil {
            values[String(name)] = .string(String(value))
        }
        return MatrixParameters(values: values)
    }

    /// Throws `M_MISSING_PARAMS` naming every absent one.
    func require(_ names: String...) throws(AppError) {
        let absent = names.filter { values[$0] == nil || values[$0] == .null }
        if !absent.isEmpty { throw Matrix.missing(absent) }
    }

    func string(_ name: String, maxBytes: Int = 4096) throws(AppError) -> String {
        guard let value = values[name], value != .null else { throw Matrix.missing([name]) }
        guard case .string(let text) = value else { throw Matrix.invalid("\(name) must be a string.") }
        guard text.utf8.count <= maxBytes else { throw Matrix.invalid("\(name) is too long.") }
        return text
    }

    func optionalString(_ name: String, maxBytes: Int = 4096) throws(AppError) -> String? {
        guard let value = values[name], value != .null else { return nil }
        return try string(name, maxBytes: maxBytes)
    }

    /// An integer given as a JSON number or (form bodies) as digits.
    func optionalInt(_ name: String) throws(AppError) -> Int64? {
        switch values[name] {
        case nil, .null?: return nil
        case .number(let number)?:
            guard number.rounded() == number, abs(number) < 9e15 else { throw Matrix.invalid("\(name) must be an integer.") }
            return Int64(number)
        case .string(let text)?:
            guard let number = Int64(text) else { throw Matrix.invalid("\(name) must be an integer.") }
            return number
        default: throw Matrix.invalid("\(name) must be an integer.")
        }
    }

    func clientSecret() throws(AppError) -> String {
        let secret = try string("client_secret", maxBytes: 255)
        guard Matrix.isClientSecret(secret) else {
            throw Matrix.invalid("Invalid client_secret provided: it must match [0-9a-zA-Z.=_-]{1,255}.")
        }
        return secret
    }

    /// A session id: the decimal number `requestToken` returned.
    func sid() throws(AppError) -> Int64 {
        let text = try string("sid", maxBytes: 32)
        guard let sid = Int64(text), sid > 0 else { throw Matrix.error(.notFound, "M_NO_VALID_SESSION", "No valid session was found matching that sid and client secret") }
        return sid
    }
}
