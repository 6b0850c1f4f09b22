import Crypto
import Foundation
import SuiteCore
import SuiteSigning
import Testing

@testable import UserIdentity

@Suite struct TokenTests {
    let key = Ed25519SigningKey.generate()
    var tokens: UserTokens { UserTokens(settings: TokenSettings(key: .eddsa(key), issuer: "uai")) }

    func user(roles: [String] = ["tenant"]) -> User {
        User(
            id: UUID(), email: "a@example.com", fullname: "Ann Example", locale: "en", roles: roles, passwordHash: nil,
            isEnabled: true, prototype: false, createdAt: Date(), lastAuthenticationAt: nil)
    }

    @Test func aPairCarriesTheSeedsClaims() throws {
        let someone = user(roles: ["foo", "bar"])
        let pair = tokens.pair(for: someone)
        let (header, access) = try tokens.verify(pair.access, audience: .access)
        #expect(header["alg"] == "EdDSA")
        #expect(header["kid"]?.stringValue == key.kid)
        #expect(access.sub == someone.idString && access.user_id == someone.idString)
        #expect(access.roles == ["foo", "bar"] && access.iss == "uai" && access.exp - access.iat == 900)
        let refresh = try tokens.verify(pair.refresh, audience: .refresh).claims
        #expect(refresh.jti == pair.refreshID.uuidString.lowercased())
        #expect(refresh.exp - refresh.iat == 30 * 86_400)
    }

    @Test func aRefreshTokenIsNoAccessTokenAndTheReverse() throws {
        let pair = tokens.pair(for: user())
        #expect(throws: AppError.self) { try tokens.verify(pair.refresh, audience: .access) }
        #expect(throws: AppError.self) { try tokens.verify(pair.access, audience: .refresh) }
    }

    @Test func forgedAndDamagedTokensAreRefused() throws {
        let pair = tokens.pair(for: user())
        let parts = pair.access.split(separator: ".").map(String.init)
        let payload = parts[1]
        func attempt(_ token: String) -> AppError? {
            do {
                _ = try tokens.verify(token, audience: .access)
                return nil
            } catch {
                return error
            }
        }
        // alg none, no signature.
        let none = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        #expect(attempt("\(none).\(payload).")?.status == .unauthorized)
        // HS512 keyed with the public key: the classic algorithm confusion.
        let hsHeader = Base64URL.encode(Array(#"{"alg":"HS512","kid":"\#(key.kid)","typ":"JWT"}"#.utf8))
        let mac = HMAC<SHA512>.authenticationCode(
            for: Array("\(hsHeader).\(payload)".utf8), using: SymmetricKey(data: key.publicKey.rawRepresentation))
        #expect(attempt("\(hsHeader).\(payload).\(Base64URL.encode(Array(mac)))")?.status == .unauthorized)
        // Another Ed25519 key with our kid.
        let other = UserTokens(
            settings: TokenSettings(key: .eddsa(Ed25519SigningKey(key: .init(), kid: key.kid)), issuer: "uai"))
        #expect(attempt(other.pair(for: user()).access)?.status == .unauthorized)
        // A payload changed after signing (roles raised).
        var claims = try tokens.verify(pair.access, audience: .access).claims
        claims.roles = ["uai_admin"]
        let raised = Base64URL.encode(try JSONEncoder().encode(claims))
        #expect(attempt("\(parts[0]).\(raised).\(parts[2])")?.status == .unauthorized)
        // Garbage of every shape.
        for garbage in ["", "a.b", "a.b.c.d", "....", "x.y.z", String(repeating: "a", count: 9000)] {
            #expect(attempt(garbage)?.status == .unauthorized)
        }
    }

    @Test func expiryIssuerAndFutureTokensAreChecked() throws {
        let someone = user()
        let now = Int(Date().timeIntervalSince1970)
        let expired = tokens.pair(for: someone, now: now - 1000).access
        let error = #expect(throws: AppError.self) { try tokens.verify(expired, audience: .access) }
        #expect(error?.headers[.wwwAuthenticate]?.contains("token expired") == true)
        let future = tokens.pair(for: someone, now: now + 600).access
        #expect(throws: AppError.self) { try tokens.verify(future, audience: .access) }
        let foreign = UserTokens(settings: TokenSettings(key: .eddsa(key), issuer: "someone-else")).pair(for: someone).access
        #expect(throws: AppError.self) { try tokens.verify(foreign, audience: .access) }
    }

    @Test func hs512TokensVerifyWithTheSecretOnly() throws {
        let secret = SymmetricKey(data: Array("0123456789abcdef0123456789abcdef0123456789abcdef".utf8))
        let hs = UserTokens(settings: TokenSettings(key: .hs512(secret), issuer: "uai"))
        let pair = hs.pair(for: user())
        #expect(try hs.verify(pair.access, audience: .access).header["alg"] == "HS512")
        #expect(hs.jwks.keys.isEmpty)
        // An EdDSA token is not accepted by an HS512 service, nor the reverse.
        #expect(throws: AppError.self) { try hs.verify(tokens.pair(for: user()).access, audience: .access) }
        #expect(throws: AppError.self) { try tokens.verify(pair.access, audience: .access) }
    }

    @Test func jwksPublishesThePublicKey() {
        let jwk = tokens.jwks.keys.first
        #expect(jwk?.kty == "OKP" && jwk?.crv == "Ed25519" && jwk?.kid == key.kid && jwk?.alg == "EdDSA")
        #expect(jwk?.x == Base64URL.encode(key.publicKey.rawRepresentation))
    }
}

@Suite struct SettingsTests {
    let base = ["SERVICE_SIGNING_KEY": Ed25519SigningKey.generate().seedBase64]

    @Test func defaultsAreSafe() throws {
        let settings = try UserIdentitySettings.load(ConfigReader(base))
        #expect(settings.bcryptCost == 12)
        #expect(settings.tokens.accessTTL == 900 && settings.tokens.refreshTTL == 30 * 86_400)
        #expect(settings.signupRoles == ["tenant", "landlord"])
        if case .eddsa = settings.tokens.key {} else { Issue.record("EdDSA is the default") }
    }

    @Test func wrongSettingsAreNamed() {
        func variable(_ values: [String: String]) -> String? {
            do {
                _ = try UserIdentitySettings.load(ConfigReader(base.merging(values) { $1 }))
                return nil
            } catch {
                return error.variable
            }
        }
        #expect(variable(["UAI_SIGNUP_ROLES": "tenant,uai_admin"]) == "UAI_SIGNUP_ROLES")
        #expect(variable(["UAI_JWT_ALGORITHM": "HS512", "UAI_JWT_SIGNING_KEY": "short"]) == "UAI_JWT_SIGNING_KEY")
        #expect(variable(["UAI_JWT_ALGORITHM": "RS256"]) == "UAI_JWT_ALGORITHM")
        #expect(variable(["UAI_BCRYPT_COST": "3"]) == "UAI_BCRYPT_COST")
        #expect(variable(["UAI_ACCESS_TTL_SECONDS": "3600", "UAI_REFRESH_TTL_SECONDS": "600"]) == "UAI_REFRESH_TTL_SECONDS")
        #expect(variable(["UAI_SIGNUP_DISALLOWED_DOMAINS": "tenant"]) == "UAI_SIGNUP_DISALLOWED_DOMAINS")
        #expect(variable(["TEMPLATES_DIR": "/nonexistent/templates"]) == "TEMPLATES_DIR")
        #expect(variable([:]) == nil)
    }

    @Test func hs512AndDisallowedDomainsAreRead() throws {
        let settings = try UserIdentitySettings.load(ConfigReader(base.merging([
            "UAI_JWT_ALGORITHM": "HS512", "UAI_JWT_SIGNING_KEY": String(repeating: "k", count: 64),
            "UAI_SIGNUP_DISALLOWED_DOMAINS": "tenant:Spotahome.com|example.org,landlord:example.net",
        ]) { $1 }))
        if case .hs512 = settings.tokens.key {} else { Issue.record("HS512 was asked for") }
        #expect(settings.disallowedSignupDomains == ["tenant": ["spotahome.com", "example.org"], "landlord": ["example.net"]])
    }
}
