import Crypto
import Foundation
import Hummingbird
import Logging
import SuiteCore
import SuiteHTTP
import SuiteMail
import SuiteSigning

/// Invitations to a Matrix room for an address nobody has bound yet (`store-invite`),
/// the signature that lets the invitee accept one (`sign-ed25519`), and the public keys
/// homeservers check (`pubkey/…`).
struct ThirdPartyInvites: Sendable {
    let store: InviteStore
    let settings: IdentitySettings
    let publicBaseURL: String
    let rateLimiter: RateLimiter

    static let invitesPerSender = RateLimit(name: "is-store-invite-sender", limit: 100, windowSeconds: 3600)

    /// The template variables sydent always defines, empty when the inviter gave none.
    static let knownParameters = [
        "room_alias", "room_avatar_url", "room_join_rules", "room_name", "sender_display_name", "sender_avatar_url",
        "guest_access_token", "guest_user_id", "room_type",
    ]

    /// `POST …/store-invite`.
    func store(_ request: Request, context: SuiteContext, account: Account?, version: APIVersion) async throws -> Response {
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("medium", "address", "room_id", "sender")
        let medium = try parameters.string("medium", maxBytes: 16)
        let address = try parameters.string("address", maxBytes: 512)
        // Any room id, as sydent stores it: homeservers pass event-id-like and other strings.
        let roomID = try parameters.string("room_id", maxBytes: 255)
        guard !roomID.isEmpty else { throw Matrix.invalid("room_id must not be empty.") }
        let sender = try parameters.string("sender", maxBytes: 255)

        // sydent's order: a bound address is M_THREEPID_IN_USE before anything else is
        // judged, so a homeserver learns the owner whatever else its request carries.
        let email = medium == "email" ? Matrix.foldedEmail(address) : address
        if let mxid = try await store.boundMXID(medium: medium, address: email, logger: context.logger) {
            throw Matrix.error(.badRequest, "M_THREEPID_IN_USE", "Binding already known").with("mxid", .string(mxid))
        }
        guard medium == "email" else {
            throw Matrix.error(.badRequest, "M_UNRECOGNIZED", "Didn't understand medium '\(medium.prefix(16))'")
        }
        guard Validate.isEmail(email) else { throw Matrix.error(.badRequest, "M_INVALID_EMAIL", "Invalid email address") }
        guard Matrix.isUserID(sender) else { throw Matrix.invalid("sender must be a Matrix user ID (@user:server).") }
        // v2: the inviter is the account calling (sydent: 403 "'sender' doesn't match").
        if let account, account.userID != sender {
            throw Matrix.error(.forbidden, "M_UNAUTHORIZED", "'sender' doesn't match")
        }

        // Every other string parameter is a template variable, as sydent allows.
        var values: [String: String] = [:]
        for name in Self.knownParameters { values[name] = "" }
        for (name, value) in parameters.values where value.stringValue != nil && name.utf8.count <= 64 {
            guard let text = value.stringValue, text.utf8.count <= 2048 else { throw Matrix.invalid("\(name.prefix(64)) is too long.") }
            values[name] = text
        }
        guard values.count <= 64 else { throw Matrix.invalid("Too many parameters.") }

        try await rateLimiter.enforce([(Self.invitesPerSender, sender)])

        let token = SecureRandom.string(count: 32)
        let ephemeral = Curve25519.Signing.PrivateKey()
        let ephemeralPublic = Matrix.unpaddedBase64(ephemeral.publicKey.rawRepresentation)
        let ephemeralPrivate = Matrix.unpaddedBase64(ephemeral.rawRepresentation)
        let brand = settings.brands.brand(request.uri.queryParameters["brand"].map(String.init))

        values["to"] = email
        values["token"] = token
        values["ephemeral_private_key"] = ephemeralPrivate
        values["web_client_location"] = settings.webClientLocation
        values["room_id"] = roomID
        values["sender"] = sender
        let roomName = values["room_name"] ?? ""
        let senderName = values["sender_display_name"] ?? ""
        values["bracketed_room_name"] = roomName.isEmpty ? "" : "(\(roomName)) "
        values["bracketed_verified_sender"] = senderName.isEmpty ? "" : "(\(sender)) "
        values["sign_url"] = "\(publicBaseURL)\(APIVersion.v1.prefix)/sign-ed25519?token=\(token)&private_key=\(BrandTemplates.escapeURL(ephemeralPrivate))"
        let inviter = senderName.isEmpty ? sender : senderName
        let subject = roomName.isEmpty ? "\(inviter) has invited you to chat" : "\(inviter) has invited you to \(roomName)"
        values["subject_header_value"] = MailMessage.encodeWord(subject)

        let envelope = settings.brands.message("invite_template.eml", brand: brand, from: settings.mail.from, to: email, values: values)
        try await store.storePending(
            email: email, roomID: roomID, sender: sender, token: token, ephemeralPublicKey: ephemeralPublic, mail: envelope,
            logger: context.logger)
        context.logger.info("invite stored", metadata: ["room_id": "\(roomID)"])
        let longTerm = settings.publicKeyBase64
        return Response.json([
            "token": .string(token),
            "public_key": .string(longTerm),
            "public_keys": [
                ["public_key": .string(longTerm), "key_validity_url": .string("\(publicBaseURL)\(version.prefix)/pubkey/isvalid")],
                ["public_key": .string(ephemeralPublic), "key_validity_url": .string("\(publicBaseURL)\(version.prefix)/pubkey/ephemeral/isvalid")],
            ],
            "display_name": .string(Self.redact(email)),
        ])
    }

    /// sydent's redaction: the first three characters of each side of the `@`, or less
    /// for short ones (`alice@example.org` → `ali...@exa...`).
    static func redact(_ email: String) -> String {
        guard let at = email.lastIndex(of: "@") else { return redactPart(email) }
        return redactPart(String(email[..<at])) + "@" + redactPart(String(email[email.index(after: at)...]))
    }

    static func redactPart(_ text: String, reveal: Int = 3) -> String {
        if text.count <= reveal {
            if text.count > 5 { return text.prefix(3) + "..." }
            if text.count > 1 { return text.prefix(1) + "..." }
            return "..."
        }
        return text.prefix(reveal) + "..."
    }

    /// `POST …/sign-ed25519`: signs `{mxid, sender, token}` with the ephemeral private key
    /// the invitee got by mail.
    func sign(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        let parameters = try await MatrixParameters.read(request, context: context)
        try parameters.require("mxid", "token", "private_key")
        let mxid = try parameters.string("mxid", maxBytes: 255)
        guard Matrix.isUserID(mxid) else { throw Matrix.invalid("mxid must be a Matrix user ID (@user:server).") }
        let token = try parameters.string("token", maxBytes: 255)
        guard let seed = Base64URL.decode(try parameters.string("private_key", maxBytes: 128)), seed.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        else { throw Matrix.invalid("private_key must be an unpadded base64 Ed25519 seed.") }
        guard let sender = try await store.sender(ofInviteToken: token, logger: context.logger) else {
            throw Matrix.error(.notFound, "M_UNRECOGNIZED", "Didn't recognize token")
        }
        let signed = Matrix.sign(
            ["mxid": .string(mxid), "sender": .string(sender), "token": .string(token)], server: settings.serverName, key: key)
        return Response.json(.object(signed))
    }

    /// `GET …/pubkey/{keyId}`.
    func publicKey(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        guard context.parameters.get("keyId") == IdentitySettings.keyID else {
            throw Matrix.error(.notFound, "M_NOT_FOUND", "The public key was not found")
        }
        return Response.json(["public_key": .string(settings.publicKeyBase64)])
    }

    /// `GET …/pubkey/isvalid?public_key=`: whether it is this server's long-term key.
    func isValid(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        let query = MatrixParameters.query(request)
        try query.require("public_key")
        let key = try query.string("public_key", maxBytes: 128)
        return Response.json(["valid": .bool(key == settings.publicKeyBase64)])
    }

    /// `GET …/pubkey/ephemeral/isvalid?public_key=`: whether a store-invite made it.
    func isValidEphemeral(_ request: Request, context: SuiteContext, account: Account?) async throws -> Response {
        let query = MatrixParameters.query(request)
        try query.require("public_key")
        let key = try query.string("public_key", maxBytes: 128)
        return Response.json(["valid": .bool(try await store.checkEphemeralKey(key, logger: context.logger))])
    }
}
