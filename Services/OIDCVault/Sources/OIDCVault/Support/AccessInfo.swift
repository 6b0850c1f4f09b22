import Foundation
import HTTPTypes
import Hummingbird
import SuiteCore
import SuiteHTTP

/// When, from where and with what a request came: the seed's `created_at`,
/// `last_use_at`, `token_issue` and `last_access` blocks.
enum AccessInfo {
    /// Headers that CDNs and gateways set with the caller's country.
    static let countryHeaders = ["CF-IPCountry", "CloudFront-Viewer-Country", "X-Country-Code", "X-Client-Country"]

    static func block(_ request: Request, context: some SuiteRequestContext, at date: Date = Date()) -> JSONValue {
        let agent = request.headers[.userAgent] ?? ""
        var country: JSONValue = .null
        for name in countryHeaders {
            if let value = request.headers[HTTPField.Name(name)!], value.count == 2, value.allSatisfy({ $0.isLetter }) {
                country = .string(value.uppercased())
                break
            }
        }
        return [
            "at": .string(Timestamp.millis(date)),
            "ip": .string(request.clientAddress(context: context)),
            "country": country,
            "user_agent": .string(String(agent.prefix(512))),
            "user_agent_parsed": UserAgent.parse(agent),
        ]
    }
}

/// A small user-agent reader: browser, OS and device families with versions, and the
/// seed's mobile/tablet/pc/bot flags. Ordered rules, first match wins, as ua-parser does.
enum UserAgent {
    static func parse(_ agent: String) -> JSONValue {
        let lower = agent.lowercased()
        let isBot = ["bot", "crawler", "spider", "slurp", "curl/", "wget/", "python-requests", "httpclient"].contains { lower.contains($0) }
        let browser: (String, String?) = {
            for (token, family) in [
                ("Edg/", "Edge"), ("EdgA/", "Edge Mobile"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"),
                ("Firefox/", "Firefox"), ("FxiOS/", "Firefox iOS"), ("CriOS/", "Chrome Mobile iOS"), ("Chrome/", "Chrome"),
                ("curl/", "curl"), ("Wget/", "Wget"), ("python-requests/", "Python Requests"),
            ] {
                if let version = version(after: token, in: agent) {
                    if family == "Chrome", lower.contains("mobile") { return ("Chrome Mobile", version) }
                    return (family, version)
                }
            }
            if agent.contains("Safari/"), let version = version(after: "Version/", in: agent) {
                return (lower.contains("mobile") ? "Mobile Safari" : "Safari", version)
            }
            return (isBot ? "Other Bot" : "Other", nil)
        }()
        let os: (String, String?) = {
            if let range = agent.range(of: "Windows NT ") {
                let version = agent[range.upperBound...].prefix { $0.isNumber || $0 == "." }
                let names = ["10.0": "10", "6.3": "8.1", "6.2": "8", "6.1": "7"]
                return ("Windows", names[String(version)] ?? String(version))
            }
            if agent.contains("iPhone") || agent.contains("iPad"), let range = agent.range(of: "OS ") {
                return ("iOS", String(agent[range.upperBound...].prefix { $0.isNumber || $0 == "_" }).replacingOccurrences(of: "_", with: "."))
            }
            if let version = version(after: "Android ", in: agent, stop: [";", ")"]) { return ("Android", version) }
            if let range = agent.range(of: "Mac OS X ") {
                return ("Mac OS X", String(agent[range.upperBound...].prefix { $0.isNumber || $0 == "_" || $0 == "." })
                    .replacingOccurrences(of: "_", with: "."))
            }
            if agent.contains("CrOS") { return ("Chrome OS", nil) }
            if agent.contains("Linux") { return ("Linux", nil) }
            return ("Other", nil)
        }()
        let isTablet = agent.contains("iPad") || (lower.contains("android") && !lower.contains("mobile")) || lower.contains("tablet")
        let isMobile = !isTablet && (lower.contains("mobile") || agent.contains("iPhone"))
        let isPC = !isMobile && !isTablet && !isBot && ["Windows", "Mac OS X", "Linux", "Chrome OS"].contains(os.0)
        let device: (String, String?, String?) = {
            if agent.contains("iPhone") { return ("iPhone", "Apple", "iPhone") }
            if agent.contains("iPad") { return ("iPad", "Apple", "iPad") }
            if isBot { return ("Spider", "Spider", "Desktop") }
            if os.0 == "Mac OS X" { return ("Mac", "Apple", "Mac") }
            if isMobile || isTablet { return ("Generic Smartphone", "Generic", "Smartphone") }
            return ("Other", nil, nil)
        }()
        return [
            "browser": ["family": .string(browser.0), "version": browser.1.map { .string($0) } ?? .null],
            "os": ["family": .string(os.0), "version": os.1.map { .string($0) } ?? .null],
            "device": [
                "family": .string(device.0), "brand": device.1.map { .string($0) } ?? .null, "model": device.2.map { .string($0) } ?? .null,
            ],
            "is_mobile": .bool(isMobile), "is_tablet": .bool(isTablet), "is_pc": .bool(isPC), "is_bot": .bool(isBot),
        ]
    }

    private static func version(after token: String, in agent: String, stop: Set<Character> = [" ", ";", ")"]) -> String? {
        guard let range = agent.range(of: token) else { return nil }
        let version = agent[range.upperBound...].prefix { !stop.contains($0) }
        return version.isEmpty ? nil : String(version)
    }
}
