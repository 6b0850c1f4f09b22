import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import SuiteCore
import SuiteHTTP

/// The hosted login page (`GET /login?auth_req_id=…`, where `/authorize` sends the
/// browser unless `VAULT_LOGIN_UI_URL` names another): server-rendered, with the client's
/// name and logo and a passkey login (WebAuthn in the browser, one small script of our
/// own). English, French or Spanish by `ui_locales` or `Accept-Language`. Its CSP allows
/// nothing inline and nothing from elsewhere but images; it sets no cookie.
struct LoginPage: Sendable {
    let vault: Vault

    static let page = try! MustacheTemplate(string: String(decoding: PackageResources.login_html, as: UTF8.self))
    static let errorPage = try! MustacheTemplate(string: String(decoding: PackageResources.error_html, as: UTF8.self))

    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        HTTPField.Name("X-Frame-Options")!: "DENY", HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer", .cacheControl: "no-store",
    ]

    func add(to router: Router<VaultContext>, access: RouteAccess) {
        access.open(router) {
            router.get("login") { request, _ in try await page(request) }
            router.get("login/login.js") { _, _ in Self.asset(PackageResources.login_js, type: "text/javascript; charset=utf-8") }
            router.get("login/login.css") { _, _ in Self.asset(PackageResources.login_css, type: "text/css; charset=utf-8") }
        }
    }

    static func asset(_ bytes: [UInt8], type: String) -> Response {
        var headers: HTTPFields = [.contentType: type, .cacheControl: "public, max-age=3600"]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func page(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let strings = Self.strings(for: query["ui_locales"].map(String.init) ?? request.headers[.acceptLanguage] ?? "")
        let base = vault.publicURL
        guard let authReqID = query["auth_req_id"].map(String.init), (1...64).contains(authReqID.count),
            let (tenantID, clientID) = try await vault.credentials.pendingAuthRequest(authReqID),
            let tenant = try await vault.tenants.find(tenantID), let client = try await vault.clients.find(tenant: tenantID, id: clientID)
        else {
            let body = Self.errorPage.render(["lang": strings.lang, "base": base, "title": strings.expiredTitle, "message": strings.expiredMessage])
            return Self.html(body, status: .notFound)
        }
        let logo = client.document["logo_uri"]?.stringValue.flatMap { URL(string: $0)?.scheme == "https" ? $0 : nil }
        var context: [String: Any] = [
            "lang": strings.lang, "base": base, "title": strings.title, "heading": strings.heading, "to": strings.to,
            "client": client.document["name"]?.stringValue ?? client.id, "tenant": tenantID, "authReqID": authReqID,
            "passkeys": tenant.settings["passkey_enabled"]?.boolValue == true, "username": strings.username, "passkey": strings.passkey,
            "noPasskeys": strings.noPasskeys, "imageHint": strings.imageHint, "failed": strings.failed, "unsupported": strings.unsupported,
            "working": strings.working,
        ]
        // Only when there is one: a nil in the context would still open the section.
        if let logo { context["logo"] = logo }
        return Self.html(Self.page.render(context), status: .ok)
    }

    static func html(_ body: String, status: HTTPResponse.Status) -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    struct Strings {
        let lang, title, heading, to, username, passkey, noPasskeys, imageHint, failed, unsupported, working, expiredTitle, expiredMessage: String
    }

    /// The first of en, fr, es in `preference` (`ui_locales` or `Accept-Language`), else English.
    static func strings(for preference: String) -> Strings {
        let wanted = preference.split(whereSeparator: { $0 == "," || $0 == " " }).map { $0.split(separator: ";")[0].prefix(2).lowercased() }
        switch wanted.first(where: { ["en", "fr", "es"].contains($0) }) {
        case "fr":
            return Strings(
                lang: "fr", title: "Connexion", heading: "Connexion", to: "pour continuer vers", username: "Nom d’utilisateur",
                passkey: "Se connecter avec une clé d’accès", noPasskeys: "Connectez-vous avec l’application sur votre téléphone.",
                imageHint: "Vous pouvez aussi vous connecter avec votre image dans l’application.",
                failed: "Cela n’a pas fonctionné. Vérifiez votre nom d’utilisateur et réessayez.",
                unsupported: "Ce navigateur ne prend pas en charge les clés d’accès.", working: "En attente de votre clé d’accès…",
                expiredTitle: "Ce lien de connexion a expiré", expiredMessage: "Revenez à l’application et recommencez.")
        case "es":
            return Strings(
                lang: "es", title: "Iniciar sesión", heading: "Iniciar sesión", to: "para continuar a", username: "Nombre de usuario",
                passkey: "Iniciar sesión con una llave de acceso", noPasskeys: "Inicia sesión con la aplicación de tu teléfono.",
                imageHint: "También puedes iniciar sesión con tu imagen en la aplicación.",
                failed: "No ha funcionado. Comprueba tu nombre de usuario e inténtalo de nuevo.",
                unsupported: "Este navegador no admite llaves de acceso.", working: "Esperando tu llave de acceso…",
                expiredTitle: "Este enlace de inicio de sesión ha caducado", expiredMessage: "Vuelve a la aplicación y empieza de nuevo.")
        default:
            return Strings(
                lang: "en", title: "Sign in", heading: "Sign in", to: "to continue to", username: "Username", passkey: "Sign in with a passkey",
                noPasskeys: "Sign in with the app on your phone.", imageHint: "You can also sign in with your image in the app.",
                failed: "That did not work. Check your username and try again.", unsupported: "This browser cannot use passkeys.",
                working: "Waiting for your passkey…", expiredTitle: "This sign-in link has expired",
                expiredMessage: "Go back to the application and start again.")
        }
    }
}
