import Foundation
import PostgresNIO
import SuiteCore
import SuiteHTTP
import SuiteTesting
import Testing

@testable import IdentityAssociations

/// Email validation as a client and a person see it: requestToken, the mail, the link,
/// submitToken, getValidated3pid.
@Suite struct EmailValidationTests {
    static let v1 = Identity.v1

    @Test func withTheDatabaseDownRequestsAre503sAtTheDeadlineAndNoneCommitsAfterItsAnswer() async throws {
        let cluster = try await PostgresCluster.start()
        defer { cluster.stopServerInBackground() }
        let timeout = Duration.seconds(1)
        try await Identity.run(.live, database: cluster.configuration(database: "postgres", schema: "identity"), requestTimeout: timeout) { identity in
            func request(_ email: String) async throws -> TestResponse {
                try await identity.call(
                    .POST, Self.v1 + "/validate/email/requestToken", json: ["email": .string(email), "client_secret": "s3cret", "send_attempt": 1])
            }
            #expect(try await request("before@example.org").status == 200)
            // The test cluster commits without waiting for the WAL and stops like a crash:
            // give its WAL writer a moment so the schema survives the restart.
            try await Task.sleep(for: .seconds(1))
            try await cluster.stopServer()

            // Under load, batched writes and plain reads alike: each is a 503 in the Matrix
            // dialect at the request's deadline (1 s here), not when PostgreSQL's client
            // gives up (about a minute), never a 500.
            let answers = try await withThrowingTaskGroup(of: (TestResponse, Duration).self) { group in
                for index in 0..<16 {
                    group.addTask {
                        let start = ContinuousClock.now
                        let response = index.isMultiple(of: 4)
                            ? try await identity.call(.GET, Self.v1 + "/3pid/getValidated3pid?sid=1&client_secret=abc")
                            : try await request("down-\(index)@example.org")
                        return (response, ContinuousClock.now - start)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (response, elapsed) in answers {
                #expect(response.status == 503, "\(response.text)")
                #expect(response.json?["errcode"] != nil, "\(response.text)")
                #expect(response.header("Retry-After") == "1")
                // By the deadline at the latest (far below the minute it took; loose for a
                // loaded machine); sooner when the pool already knows the server is gone.
                #expect(elapsed < timeout + .seconds(5), "\(elapsed)")
            }

            try await cluster.startServer()
            var status = 0
            for _ in 0..<100 where status != 200 {
                status = (try? await request("after@example.org").status) ?? 0
                if status != 200 { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(status == 200)
            _ = try await identity.sink.waitForMail(to: "after@example.org")
            // Nothing a client was told had failed was written once PostgreSQL came back:
            // no session, no mail.
            try await Task.sleep(for: .seconds(2))
            let rows = try await identity.database.query(
                "SELECT count(*)::int FROM validation_sessions WHERE address LIKE 'down-%'", logger: .init(label: "t"))
            for try await count in rows.decode(Int.self) { #expect(count == 0) }
            #expect(!identity.sink.messages.contains { $0.recipients.contains { $0.hasPrefix("down-") } })
        }
    }

    @Test func theSameEmailAndSecretGetTheSameSidAndSendAttemptStopsDuplicates() async throws {
        try await Identity.run { identity in
            let request: JSONValue = ["email": "Alice@Example.org", "client_secret": "s3cret", "send_attempt": 1]
            let first = try await identity.call(.POST, Self.v1 + "/validate/email/requestToken", json: request)
            #expect(first.status == 200)
            let sid = try #require(first.json?["sid"]?.stringValue)
            let mail = try await identity.sink.waitForMail(to: "alice@example.org")
            #expect(mail.header("Subject") == "Confirm your email address")
            #expect(mail.header("To") == "alice@example.org")
            #expect(mail.data.contains("sid=\(sid)"))

            // A retry with the same send_attempt: same sid, no second mail.
            let retry = try await identity.call(.POST, Self.v1 + "/validate/email/requestToken", json: request)
            #expect(retry.json?["sid"]?.stringValue == sid)
            try await Task.sleep(for: .milliseconds(1200))
            #expect(identity.sink.messages.count == 1)

            // A higher send_attempt sends a reminder, same sid.
            let reminder = try await identity.call(
                .POST, Self.v1 + "/validate/email/requestToken", json: ["email": "alice@example.org", "client_secret": "s3cret", "send_attempt": 2])
            #expect(reminder.json?["sid"]?.stringValue == sid)
            _ = try await identity.waitForNewMail(to: "alice@example.org", after: 1)

            // Another client secret is another session.
            let other = try await identity.call(
                .POST, Self.v1 + "/validate/email/requestToken", json: ["email": "alice@example.org", "client_secret": "other", "send_attempt": 1])
            #expect(other.json?["sid"]?.stringValue != sid)
        }
    }

    @Test func concurrentRetriesOfOneSendAttemptSendOneMail() async throws {
        try await Identity.run { identity in
            let request: JSONValue = ["email": "race@example.org", "client_secret": "s3cret", "send_attempt": 7]
            let sids = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<12 {
                    group.addTask { try await identity.call(.POST, Self.v1 + "/validate/email/requestToken", json: request).json?["sid"]?.stringValue }
                }
                var all = Set<String?>()
                for try await sid in group { all.insert(sid) }
                return all
            }
            #expect(sids.count == 1 && sids.first! != nil)
            _ = try await identity.sink.waitForMail(to: "race@example.org")
            try await Task.sleep(for: .milliseconds(1200))
            #expect(identity.sink.messages.filter { $0.recipients == ["race@example.org"] }.count == 1)
        }
    }

    @Test func bothMailedTokensWorkAfterAReminder() async throws {
        try await Identity.run { identity in
            let (sid, firstToken) = try await identity.requestEmailToken("bob@example.org", attempt: 1)
            let (again, secondToken) = try await identity.requestEmailToken("bob@example.org", attempt: 2)
            #expect(sid == again && firstToken != secondToken)
            #expect(firstToken.count == 32)
            let submit = try await identity.call(
                .POST, Self.v1 + "/validate/email/submitToken",
                json: ["sid": .string(sid), "client_secret": "monkeys_are_GREAT", "token": .string(firstToken)])
            #expect(submit.json == ["success": true])
        }
    }

    @Test func submitTokenAnswersSuccessFalseWithTheErrcode() async throws {
        try await Identity.run { identity in
            let (sid, token) = try await identity.requestEmailToken("carol@example.org")
            func submit(_ sid: String, _ secret: String, _ token: String) async throws -> JSONValue? {
                try await identity.call(
                    .POST, Self.v1 + "/validate/email/submitToken",
                    json: ["sid": .string(sid), "client_secret": .string(secret), "token": .string(token)]).json
            }
            #expect(try await submit(sid, "monkeys_are_GREAT", "wrong")?["errcode"] == "M_INVALID_PARAM")
            #expect(try await submit(sid, "monkeys_are_GREAT", "wrong")?["success"] == false)
            #expect(try await submit(sid, "not_the_secret", token)?["errcode"] == "M_NO_VALID_SESSION")
            #expect(try await submit("999999", "monkeys_are_GREAT", token)?["errcode"] == "M_NO_VALID_SESSION")
            #expect(try await submit(sid, "monkeys_are_GREAT", token) == ["success": true])
            // Validating twice is harmless.
            #expect(try await submit(sid, "monkeys_are_GREAT", token) == ["success": true])

            let missing = try await identity.call(.POST, Self.v1 + "/validate/email/submitToken", json: ["sid": .string(sid)])
            #expect(missing.status == 400)
            #expect(missing.json?["errcode"] == "M_MISSING_PARAMS")
        }
    }

    @Test func theMailedLinkShowsAPageOrRedirectsToNextLink() async throws {
        try await Identity.run { identity in
            // Without next_link: a page for a person.
            let (sid, token) = try await identity.requestEmailToken("dave@example.org")
            let mail = try await identity.sink.waitForMail(to: "dave@example.org")
            let link = try #require(Identity.value(after: "follow this link to confirm the address:\r\n\r\n", in: mail.data))
            #expect(link.hasPrefix(identity.base + Self.v1 + "/validate/email/submitToken?token=\(token)&client_secret=monkeys_are_GREAT&sid=\(sid)"))
            // A mail scanner fetches it first; the person's click still works.
            for _ in 0..<2 {
                let page = try await identity.client.send(.GET, link)
                #expect(page.status == 200)
                #expect(page.header("Content-Type")?.hasPrefix("text/html") == true)
                #expect(page.text.contains("Verification successful"))
            }
            let wrong = try await identity.client.send(.GET, identity.base + Self.v1 + "/validate/email/submitToken?token=nope&client_secret=monkeys_are_GREAT&sid=\(sid)")
            #expect(wrong.status == 400)
            #expect(wrong.text.contains("Verification failed"))

            // With an https next_link: a redirect there.
            let request = try await identity.call(
                .POST, Self.v1 + "/validate/email/requestToken",
                json: ["email": "erin@example.org", "client_secret": "abc", "send_attempt": 1, "next_link": "https://app.example.org/done?x=1"])
            let sid2 = try #require(request.json?["sid"]?.stringValue)
            let mail2 = try await identity.sink.waitForMail(to: "erin@example.org")
            let token2 = try #require(Identity.value(after: "the code is ", in: mail2.data))
            let redirect = try await identity.client.fetchWithoutRedirect(identity.base + Self.v1 + "/validate/email/submitToken?token=\(token2)&client_secret=abc&sid=\(sid2)")
            #expect(redirect.status == 302)
            #expect(redirect.header("Location") == "https://app.example.org/done?x=1")

            // A javascript: next_link is remembered but never followed.
            let evil = try await identity.call(
                .POST, Self.v1 + "/validate/email/requestToken",
                json: ["email": "frank@example.org", "client_secret": "abc", "next_link": "javascript:alert(1)"])
            let sid3 = try #require(evil.json?["sid"]?.stringValue)
            let mail3 = try await identity.sink.waitForMail(to: "frank@example.org")
            let token3 = try #require(Identity.value(after: "the code is ", in: mail3.data))
            let page = try await identity.client.send(.GET, identity.base + Self.v1 + "/validate/email/submitToken?token=\(token3)&client_secret=abc&sid=\(sid3)")
            #expect(page.status == 200)
            #expect(page.header("Location") == nil)
        }
    }

    @Test func getValidated3pidReportsEachState() async throws {
        try await Identity.run { identity in
            let (sid, token) = try await identity.requestEmailToken("Grace@Example.org")
            let path = Self.v1 + "/3pid/getValidated3pid?sid=\(sid)&client_secret=monkeys_are_GREAT"
            let pending = try await identity.call(.GET, path)
            #expect(pending.status == 400)
            #expect(pending.json?["errcode"] == "M_SESSION_NOT_VALIDATED")
            let unknown = try await identity.call(.GET, Self.v1 + "/3pid/getValidated3pid?sid=\(sid)&client_secret=wrong")
            #expect(unknown.status == 404)
            #expect(unknown.json?["errcode"] == "M_NO_VALID_SESSION")
            let garbage = try await identity.call(.GET, Self.v1 + "/3pid/getValidated3pid?sid=abc&client_secret=x")
            #expect(garbage.status == 404)
            let missing = try await identity.call(.GET, Self.v1 + "/3pid/getValidated3pid?sid=\(sid)")
            #expect(missing.json?["errcode"] == "M_MISSING_PARAMS")

            _ = try await identity.call(
                .POST, Self.v1 + "/validate/email/submitToken", json: ["sid": .string(sid), "client_secret": "monkeys_are_GREAT", "token": .string(token)])
            let done = try await identity.call(.GET, path)
            #expect(done.status == 200)
            #expect(done.json?["medium"] == "email")
            #expect(done.json?["address"] == "grace@example.org")
            let validatedAt = Double(try #require(done.json?["validated_at"]?.intValue))
            #expect(abs(validatedAt / 1000 - Date().timeIntervalSince1970) < 60)

            // A day after the last requestToken the session has expired.
            try await identity.database.query(
                "UPDATE validation_sessions SET last_requested_at = now() - interval '25 hours' WHERE id = \(Int64(sid)!)", logger: .init(label: "t"))
            let expired = try await identity.call(.GET, path)
            #expect(expired.status == 400)
            #expect(expired.json?["errcode"] == "M_SESSION_EXPIRED")
        }
    }

    @Test func badInputIsRefusedAndLeavesNoSession() async throws {
        try await Identity.run { identity in
            let invalid = try await identity.call(
                .POST, Self.v1 + "/validate/email/requestToken", json: ["email": "not-an-email", "client_secret": "abc"])
            #expect(invalid.status == 400)
            #expect(invalid.json?["errcode"] == "M_INVALID_EMAIL")
            let secret = try await identity.call(
                .POST, Self.v1 + "/validate/email/requestToken", json: ["email": "a@example.org", "client_secret": "bad secret!"])
            #expect(secret.json?["errcode"] == "M_INVALID_PARAM")
            let missing = try await identity.call(.POST, Self.v1 + "/validate/email/requestToken", json: ["email": "a@example.org"])
            #expect(missing.json?["errcode"] == "M_MISSING_PARAMS")
            let wrongType = try await identity.call(
                .POST, Self.v1 + "/validate/email/requestToken", json: ["email": "a@example.org", "client_secret": "abc", "send_attempt": "x"])
            #expect(wrongType.json?["errcode"] == "M_INVALID_PARAM")
            let notJSON = try await identity.client.send(
                .POST, identity.base + Self.v1 + "/validate/email/requestToken", headers: [("Content-Type", "application/json")],
                body: Array("{nope".utf8))
            #expect(notJSON.status == 400)
            #expect(notJSON.json?["errcode"] == "M_NOT_JSON")
            let rows = try await identity.database.query("SELECT count(*)::int FROM validation_sessions", logger: .init(label: "t"))
            for try await count in rows.decode(Int.self) { #expect(count == 0) }
            try await Task.sleep(for: .milliseconds(700))
            #expect(identity.sink.messages.isEmpty)
        }
    }

    @Test func formEncodedRequestsWorkForOlderClients() async throws {
        try await Identity.run { identity in
            let response = try await identity.form(
                Self.v1 + "/validate/email/requestToken", [("email", "henry@example.org"), ("client_secret", "abc"), ("send_attempt", "1")])
            #expect(response.status == 200)
            let sid = try #require(response.json?["sid"]?.stringValue)
            let mail = try await identity.sink.waitForMail(to: "henry@example.org")
            let token = try #require(Identity.value(after: "the code is ", in: mail.data))
            let submit = try await identity.form(Self.v1 + "/validate/email/submitToken", [("sid", sid), ("client_secret", "abc"), ("token", token)])
            #expect(submit.json == ["success": true])
        }
    }

    @Test func everyErrorIsMatrixJSONEvenForUnknownPathsAndMethods() async throws {
        try await Identity.run { identity in
            let unknown = try await identity.call(.GET, "/_matrix/identity/api/v1/nothing-here")
            #expect(unknown.status == 404)
            #expect(unknown.json?["errcode"] == "M_UNRECOGNIZED")
            #expect(unknown.header("Content-Type")?.hasPrefix("application/json") == true)
            let method = try await identity.call(.GET, Self.v1 + "/validate/email/requestToken")
            #expect(method.status == 405)
            #expect(method.json?["errcode"] == "M_UNRECOGNIZED")
            let status = try await identity.call(.GET, Self.v1)
            #expect(status.status == 200 && status.json == [:])
            let versions = try await identity.call(.GET, "/_matrix/identity/versions")
            #expect(versions.json?["versions"]?.arrayValue?.contains("v1.1") == true)
        }
    }

    @Test func requestTokenIsRateLimitedPerAddressInPostgreSQL() async throws {
        try await Identity.run(rateLimits: try RateLimitSettings.parse("is-requesttoken-address=2/3600")) { identity in
            for attempt in 1...2 {
                let ok = try await identity.call(
                    .POST, Self.v1 + "/validate/email/requestToken",
                    json: ["email": "ivy@example.org", "client_secret": "abc", "send_attempt": .number(Double(attempt))])
                #expect(ok.status == 200)
            }
            let limited = try await identity.call(
                .POST, Self.v1 + "/validate/email/requestToken", json: ["email": "IVY@example.org", "client_secret": "xyz", "send_attempt": 3])
            #expect(limited.status == 429)
            #expect(limited.json?["errcode"] == "M_LIMIT_EXCEEDED")
            #expect((limited.json?["retry_after_ms"]?.intValue ?? 0) > 0)
            // Another address is not affected.
            let other = try await identity.call(
                .POST, Self.v1 + "/validate/email/requestToken", json: ["email": "jack@example.org", "client_secret": "abc"])
            #expect(other.status == 200)
        }
    }
}

/// Phone numbers: the code goes out by text message through the provider (a fake
/// Twilio here), from the outbox.
@Suite struct MSISDNValidationTests {
    @Test func aCodeIsTextedAndValidatesTheNumber() async throws {
        try await Identity.run { identity in
            let response = try await identity.call(
                .POST, Identity.v1 + "/validate/msisdn/requestToken",
                json: ["client_secret": "abc", "country": "GB", "phone_number": "07700 900123", "send_attempt": 1])
            #expect(response.status == 200, "\(response.text)")
            #expect(response.json?["msisdn"] == "447700900123")
            #expect(response.json?["intl_fmt"] == "+44 7700900123")
            let sid = try #require(response.json?["sid"]?.stringValue)
            let message = try await identity.twilio.waitForMessage(count: 1)
            #expect(message.account == "AC123")
            #expect(message.authorization == "Basic " + Data("AC123:secret-token".utf8).base64EncodedString())
            #expect(message.fields["To"] == "+447700900123")
            #expect(message.fields["From"] == "+15550001111")
            let body = try #require(message.fields["Body"])
            let code = String(body.suffix(6))
            #expect(code.allSatisfy { $0.isNumber })

            let submit = try await identity.call(
                .POST, Identity.v1 + "/validate/msisdn/submitToken", json: ["sid": .string(sid), "client_secret": "abc", "token": .string(code)])
            #expect(submit.json == ["success": true])
            let validated = try await identity.call(.GET, Identity.v1 + "/3pid/getValidated3pid?sid=\(sid)&client_secret=abc")
            #expect(validated.json?["medium"] == "msisdn")
            #expect(validated.json?["address"] == "447700900123")
        }
    }

    @Test func guessingTheSixDigitsEndsTheSession() async throws {
        try await Identity.run { identity in
            let response = try await identity.call(
                .POST, Identity.v1 + "/validate/msisdn/requestToken",
                json: ["client_secret": "abc", "country": "US", "phone_number": "415 555 0100"])
            let sid = try #require(response.json?["sid"]?.stringValue)
            let code = String(try #require(try await identity.twilio.waitForMessage(count: 1).fields["Body"]).suffix(6))
            let wrong = code == "000000" ? "000001" : "000000"
            for _ in 0..<ValidationSessions.maxFailedAttempts {
                let answer = try await identity.call(
                    .POST, Identity.v1 + "/validate/msisdn/submitToken", json: ["sid": .string(sid), "client_secret": "abc", "token": .string(wrong)])
                #expect(answer.json?["success"] == false)
            }
            let late = try await identity.call(
                .POST, Identity.v1 + "/validate/msisdn/submitToken", json: ["sid": .string(sid), "client_secret": "abc", "token": .string(code)])
            #expect(late.json?["success"] == false)
            #expect(late.json?["errcode"] == "M_SESSION_EXPIRED")
        }
    }

    @Test func invalidNumbersAreRefused() async throws {
        try await Identity.run { identity in
            let response = try await identity.call(
                .POST, Identity.v1 + "/validate/msisdn/requestToken", json: ["client_secret": "abc", "country": "ZZ", "phone_number": "12345678"])
            #expect(response.status == 400)
            #expect(response.json?["errcode"] == "M_INVALID_ADDRESS")
        }
    }

    @Test func aProviderOutageDelaysTheTextButLosesNothing() async throws {
        try await Identity.run { identity in
            identity.twilio.failing.withLock { $0 = true }
            let response = try await identity.call(
                .POST, Identity.v1 + "/validate/msisdn/requestToken", json: ["client_secret": "abc", "country": "FR", "phone_number": "0612345678"])
            #expect(response.status == 200)
            // Until the worker has tried (and failed) once: polled, not a fixed pause, as a
            // loaded machine may take longer.
            var triedAndFailed = false
            for _ in 0..<200 where !triedAndFailed {
                let rows = try await identity.database.query(
                    "SELECT attempts, last_error IS NOT NULL FROM sms_outbox", logger: .init(label: "t"))
                for try await (attempts, failed) in rows.decode((Int, Bool).self) { triedAndFailed = attempts >= 1 && failed }
                if !triedAndFailed { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(triedAndFailed)
            #expect(identity.twilio.messages.withLock { $0.isEmpty })
            identity.twilio.failing.withLock { $0 = false }
            try await identity.database.query("UPDATE sms_outbox SET next_attempt_at = now()", logger: .init(label: "t"))
            let message = try await identity.twilio.waitForMessage(count: 1)
            #expect(message.fields["To"] == "+33612345678")
        }
    }
}
