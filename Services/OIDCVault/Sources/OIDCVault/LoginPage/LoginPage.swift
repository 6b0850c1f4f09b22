import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import SuiteCore
import SuiteHTTP

/// The hosted login page (`GET /login?auth_req_id=…`, where `/authorize` sends the
/// browser unless `VAULT_LOGIN_UI_URL` names another): server-rendered, with the client's
/// name and logo, the image login run on the device (zkp.js: the reference client's steps
/// with WebCrypto), a passkey login (WebAuthn), and the PIN or pattern step-up in the
/// tenant's login order. English, French or Spanish by `ui_locales` or `Accept-Language`. Its CSP allows
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
            router.get("login/zkp.js") { _, _ in Self.asset(PackageResources.zkp_js, type: "text/javascript; charset=utf-8") }
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
        var context: [String: Any] = strings.mapValues { $0 as Any }
        context["base"] = vault.publicURL
        guard let authReqID = query["auth_req_id"].map(String.init), (1...64).contains(authReqID.count),
            let (tenantID, clientID) = try await vault.credentials.pendingAuthRequest(authReqID),
            let tenant = try await vault.tenants.find(tenantID), let client = try await vault.clients.find(tenant: tenantID, id: clientID)
        else {
            return Self.html(Self.errorPage.render(context), status: .notFound)
        }
        let settings = tenant.settings
        context["client"] = client.document["name"]?.stringValue ?? client.id
        context["clientID"] = client.id
        context["tenant"] = tenantID
        context["authReqID"] = authReqID
        context["passkeys"] = settings["passkey_enabled"]?.boolValue == true
        // The step-up a blurry image asks for, in the tenant's login order, each method
        // only when the tenant offers it.
        let pinSize = settings["pin_size"]?.intValue ?? 6
        let order = settings["login_order"]?.arrayValue?.compactMap { $0.stringValue.flatMap(Tenant.LoginMethod.init(rawValue:)) } ?? [.pin]
        let steps = (order + Tenant.LoginMethod.allCases.filter { !order.contains($0) }).filter { method in
            switch method {
            case .pin: settings["use_pin"]?.boolValue ?? true
            case .pattern: settings["use_pattern"]?.boolValue ?? true
            }
        }
        context["steps"] = steps.map { method -> [String: Any] in
            switch method {
            case .pin:
                ["pin": true, "pinSize": pinSize, "pinType": settings["show_pin_when_typing"]?.boolValue ?? true ? "text" : "password"]
            case .pattern:
                ["pattern": true, "cells": (0..<9).map { ["cell": $0, "number": $0 + 1] }]
            }
        }
        // Only when there is one: a nil in the context would still open the section.
        if let logo = client.document["logo_uri"]?.stringValue, URL(string: logo)?.scheme == "https" { context["logo"] = logo }
        return Self.html(Self.page.render(context), status: .ok)
    }

    static func html(_ body: String, status: HTTPResponse.Status) -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static let languages = ["en", "fr", "es"]

    /// Every text of the page in English, French and Spanish, in that order.
    static let texts: [String: [String]] = [
        "title": ["Sign in", "Connexion", "Iniciar sesión"],
        "to": ["to continue to", "pour continuer vers", "para continuar a"],
        "username": ["Username", "Nom d’utilisateur", "Nombre de usuario"],
        "photo": ["Your image", "Votre image", "Tu imagen"],
        "photoHint": [
            "Your image stays on this device: only a proof made from it is sent.",
            "Votre image reste sur cet appareil : seule une preuve calculée à partir d’elle est envoyée.",
            "Tu imagen se queda en este dispositivo: solo se envía una prueba calculada a partir de ella.",
        ],
        "imageButton": ["Sign in with your image", "Se connecter avec votre image", "Iniciar sesión con tu imagen"],
        "or": ["or", "ou", "o"],
        "passkey": ["Sign in with a passkey", "Se connecter avec une clé d’accès", "Iniciar sesión con una llave de acceso"],
        "noImage": ["Choose your image first.", "Choisissez d’abord votre image.", "Elige primero tu imagen."],
        "checking": ["Checking your image…", "Vérification de votre image…", "Comprobando tu imagen…"],
        "failed": [
            "That did not work. Check your username and your image, and try again.",
            "Cela n’a pas fonctionné. Vérifiez votre nom d’utilisateur et votre image, puis réessayez.",
            "No ha funcionado. Comprueba tu nombre de usuario y tu imagen, e inténtalo de nuevo.",
        ],
        "blocked": [
            "Too many attempts. Wait a few minutes and try again.", "Trop de tentatives. Attendez quelques minutes et réessayez.",
            "Demasiados intentos. Espera unos minutos e inténtalo de nuevo.",
        ],
        "unsupported": [
            "This browser cannot do that. Use the app on your phone.", "Ce navigateur ne le permet pas. Utilisez l’application sur votre téléphone.",
            "Este navegador no lo permite. Usa la aplicación de tu teléfono.",
        ],
        "working": ["Waiting for your passkey…", "En attente de votre clé d’accès…", "Esperando tu llave de acceso…"],
        "stepUpHeading": ["Confirm it is you", "Confirmez votre identité", "Confirma que eres tú"],
        "stepUpHint": [
            "Your image was not clear enough. Confirm with one of these.", "Votre image n’était pas assez nette. Confirmez avec l’un de ces moyens.",
            "Tu imagen no era lo bastante nítida. Confírmalo con uno de estos.",
        ],
        "pinLabel": ["Your PIN", "Votre code PIN", "Tu PIN"],
        "patternLabel": ["Your pattern", "Votre schéma", "Tu patrón"],
        "patternHint": [
            "Select the dots in the order of your pattern.", "Sélectionnez les points dans l’ordre de votre schéma.",
            "Selecciona los puntos en el orden de tu patrón.",
        ],
        "dot": ["Dot", "Point", "Punto"],
        "confirm": ["Confirm", "Confirmer", "Confirmar"],
        "clear": ["Start again", "Recommencer", "Empezar de nuevo"],
        "wrong": ["That is not right. Try again.", "Ce n’est pas correct. Réessayez.", "No es correcto. Inténtalo de nuevo."],
        "expiredTitle": ["This sign-in link has expired", "Ce lien de connexion a expiré", "Este enlace de inicio de sesión ha caducado"],
        "expiredMessage": [
            "Go back to the application and start again.", "Revenez à l’application et recommencez.", "Vuelve a la aplicación y empieza de nuevo.",
        ],
    ]

    /// The texts in the first of en, fr, es in `preference` (`ui_locales` or
    /// `Accept-Language`), else English; `lang` names the language.
    static func strings(for preference: String) -> [String: String] {
        let wanted = preference.split(whereSeparator: { $0 == "," || $0 == " " }).map { $0.split(separator: ";")[0].prefix(2).lowercased() }
        let index = wanted.lazy.compactMap { languages.firstIndex(of: $0) }.first ?? 0
        var out = texts.mapValues { $0[index] }
        out["lang"] = languages[index]
        return out
    }
}
