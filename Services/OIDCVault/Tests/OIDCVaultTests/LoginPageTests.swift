import Foundation
import SuiteCore
import SuiteTesting
import Testing

@testable import OIDCVault

/// The hosted login page: the client's name, the image and passkey logins bound to the
/// request, the step-up in the tenant's login order, the language asked for, a CSP with
/// nothing inline, and an honest page for a dead link. The page's scripts run in
/// Chromium in e2e (scripts/oidc-interop.py).
@Suite struct LoginPageTests {
    @Test func thePageShowsTheClientAndOffersAPasskeyLogin() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme", PasskeyTests.relyingParty)
            let web = try await vault.client("web", tenant: "acme")
            let authReqID = try await vault.authorize(web, flow: VaultFixture.Flow())
            let page = try await vault.service.send(.GET, vault.base + "/login?auth_req_id=\(authReqID)", headers: [("Accept-Language", "de, es;q=0.8")])
            #expect(page.status == 200 && page.header("Content-Type") == "text/html; charset=utf-8")
            #expect(page.text.contains("<html lang=\"es\">") && page.text.contains("Iniciar sesión con una llave de acceso"))
            #expect(page.text.contains("data-auth-req-id=\"\(authReqID)\"") && page.text.contains("data-tenant=\"acme\""))
            #expect(page.text.contains("<strong>App web</strong>"), "the client's name")
            #expect(!page.text.contains("<img"), "no logo_uri, no image")
            #expect(!page.text.contains("<script>") && page.text.contains("/login/login.js"), "no inline script")
            let csp = try #require(page.header("Content-Security-Policy"))
            #expect(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"))
            #expect(page.header("X-Frame-Options") == "DENY" && page.header("Set-Cookie") == nil)
            // ui_locales wins over the header; a language we do not have is English.
            #expect(try await vault.service.send(.GET, vault.base + "/login?auth_req_id=\(authReqID)&ui_locales=fr").text.contains("lang=\"fr\""))
            #expect(try await vault.service.send(.GET, vault.base + "/login?auth_req_id=\(authReqID)&ui_locales=de").text.contains("Sign in with a passkey"))
            let script = try await vault.service.send(.GET, vault.base + "/login/login.js")
            #expect(script.status == 200 && script.header("Content-Type")?.hasPrefix("text/javascript") == true && script.text.contains("navigator.credentials.get"))
            let zkp = try await vault.service.send(.GET, vault.base + "/login/zkp.js")
            // The device's half of the protocol uses the reference client's domain strings.
            #expect(zkp.status == 200 && zkp.text.contains("\"oidc-vault/zkp-login\"") && zkp.text.contains("\"oidc-vault zkp v1\""))
            #expect(try await vault.service.send(.GET, vault.base + "/login/login.css").status == 200)
        }
    }

    @Test func aDeadOrMissingRequestGetsAPageThatSaysSo() async throws {
        try await VaultFixture.run { vault in
            for query in ["", "?auth_req_id=nope", "?auth_req_id=" + String(repeating: "x", count: 100)] {
                let page = try await vault.service.send(.GET, vault.base + "/login" + query)
                #expect(page.status == 404 && page.text.contains("This sign-in link has expired"), "\(query)")
                #expect(page.header("Content-Security-Policy") != nil)
            }
        }
    }

    @Test func withoutPasskeysThePageOffersTheImageLoginOnly() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("acme")
            let web = try await vault.client("web", tenant: "acme")
            let authReqID = try await vault.authorize(web, flow: VaultFixture.Flow())
            let page = try await vault.service.send(.GET, vault.base + "/login?auth_req_id=\(authReqID)")
            #expect(page.status == 200 && !page.text.contains("passkey-button"))
            #expect(page.text.contains("<input id=\"photo\" name=\"photo\" type=\"file\" accept=\"image/*\"") && page.text.contains("Sign in with your image"))
            #expect(page.text.contains("data-client=\"web\""), "the transcript names the client")
        }
    }

    @Test func theStepUpFollowsTheTenantsLoginOrderAndOffersWhatItAllows() async throws {
        try await VaultFixture.run { vault in
            try await vault.tenant("both", ["login_order": ["PATTERN", "PIN"], "pin_size": 4, "show_pin_when_typing": false])
            try await vault.tenant("pin-only", ["use_pattern": false])
            try await vault.tenant("none", ["use_pin": false, "use_pattern": false])
            func page(_ tenant: String) async throws -> String {
                let client = try await vault.client("web-\(tenant)", tenant: tenant)
                let authReqID = try await vault.authorize(client, flow: VaultFixture.Flow())
                return try await vault.service.send(.GET, vault.base + "/login?auth_req_id=\(authReqID)&ui_locales=fr").text
            }
            let both = try await page("both")
            let pattern = try #require(both.range(of: "data-method=\"PATTERN\"")), pin = try #require(both.range(of: "data-method=\"PIN\""))
            #expect(pattern.lowerBound < pin.lowerBound, "the pattern first, as login_order says")
            #expect(both.contains("type=\"password\" inputmode=\"numeric\" pattern=\"[0-9]*\" minlength=\"4\" maxlength=\"4\""))
            #expect(both.components(separatedBy: "class=\"cell\"").count == 10 && both.contains("aria-label=\"Point 9\""))
            #expect(both.contains("Confirmez votre identité"))
            let pinOnly = try await page("pin-only")
            #expect(pinOnly.contains("data-method=\"PIN\"") && !pinOnly.contains("data-method=\"PATTERN\"") && pinOnly.contains("type=\"text\" inputmode"))
            #expect(!(try await page("none")).contains("class=\"step\""))
        }
    }
}
