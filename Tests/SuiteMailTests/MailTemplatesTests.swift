import Foundation
import SuiteCore
import SuiteMail
import Testing

@Suite struct MailTemplatesTests {
    let builtIn = [
        "welcome.en.txt": "Subject: Welcome {{name}}\n\nHello {{name}}, open {{link}}\n",
        "welcome.en.html": "<p>Hello {{name}}, <a href=\"{{link}}\">open</a></p>",
        "welcome.es.txt": "Subject: Bienvenido {{name}}\n\nHola {{name}}\n",
    ]

    @Test func theBestLocaleIsChosen() throws {
        let templates = try MailTemplates(builtIn: builtIn)
        #expect(try templates.render("welcome", locale: "es_ES", values: ["name": "Ana"]).subject == "Bienvenido Ana")
        #expect(try templates.render("welcome", locale: "ES", values: ["name": "Ana"]).subject == "Bienvenido Ana")
        #expect(try templates.render("welcome", locale: "fr", values: ["name": "Ana"]).subject == "Welcome Ana")
        #expect(try templates.render("welcome", locale: nil, values: ["name": "Ana"]).text == "Hello Ana, open \n")
        #expect(throws: MailTemplates.TemplateError.self) { try templates.render("nothing", locale: "en", values: [:]) }
    }

    @Test func textIsNotHTMLEscapedButHTMLIs() throws {
        let templates = try MailTemplates(builtIn: builtIn)
        let rendered = try templates.render("welcome", locale: "en", values: ["name": "<Bo>", "link": "https://x.test/?a=1&b=2"])
        #expect(rendered.text == "Hello <Bo>, open https://x.test/?a=1&b=2\n")
        #expect(rendered.html == "<p>Hello &lt;Bo&gt;, <a href=\"https://x.test/?a=1&amp;b=2\">open</a></p>")
    }

    @Test func aValueCannotAddAHeader() throws {
        let templates = try MailTemplates(builtIn: builtIn)
        let rendered = try templates.render("welcome", locale: "en", values: ["name": "Eve\r\nBcc: all@example.com"])
        #expect(rendered.subject == "Welcome Eve Bcc: all@example.com")
        #expect(!rendered.subject.contains("\n") && !rendered.subject.contains("\r"))
    }

    @Test func anOperatorsFolderReplacesAndAddsTemplates() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("templates-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "Subject: Hi from ops {{name}}\n\nOps text\n".write(to: directory.appendingPathComponent("welcome.en.txt"), atomically: true, encoding: .utf8)
        try "Subject: Salut {{name}}\n\nBonjour\n".write(to: directory.appendingPathComponent("welcome.fr.txt"), atomically: true, encoding: .utf8)
        let templates = try MailTemplates(builtIn: builtIn, directory: directory.path)
        #expect(try templates.render("welcome", locale: "en", values: ["name": "A"]).subject == "Hi from ops A")
        #expect(try templates.render("welcome", locale: "fr_FR", values: ["name": "A"]).text == "Bonjour\n")
        #expect(try templates.render("welcome", locale: "es", values: ["name": "A"]).subject == "Bienvenido A")

        try "Subject: {{#broken}}\n".write(to: directory.appendingPathComponent("welcome.de.txt"), atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationError.self) { try MailTemplates(builtIn: builtIn, directory: directory.path) }
        #expect(error?.variable == "TEMPLATES_DIR")
        #expect("\(error!)".contains("welcome.de.txt"))
    }
}
