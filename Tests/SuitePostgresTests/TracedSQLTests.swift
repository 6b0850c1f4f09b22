import Testing

@testable import SuitePostgres

@Suite struct TracedSQLTests {
    /// A span is named by what the statement does and to which table, as OpenTelemetry's
    /// database conventions ask: few names, whatever the values.
    @Test(arguments: [
        ("SELECT id, name FROM rooms WHERE id = $1", "SELECT", "rooms"),
        ("\n  select count(*) from\n  mail_outbox where sent_at IS NULL", "SELECT", "mail_outbox"),
        ("INSERT INTO users (id, email) VALUES ($1, $2)", "INSERT", "users"),
        ("UPDATE invite_outbox SET sent_at = now() WHERE id = ANY($1)", "UPDATE", "invite_outbox"),
        ("DELETE FROM rate_limits WHERE expires_at < now()", "DELETE", "rate_limits"),
        ("SELECT pg_advisory_lock($1)", "SELECT", nil),
        ("WITH due AS (SELECT id FROM sms_outbox) UPDATE sms_outbox SET attempts = 1", "WITH", nil),
        ("SELECT 1 FROM public.sessions", "SELECT", "public.sessions"),
        ("   ", "SQL", nil),
    ] as [(String, String, String?)])
    func aStatementIsNamedByItsOperationAndTable(sql: String, operation: String, table: String?) {
        let summary = SQLSpan.summary(sql)
        #expect(summary.operation == operation)
        #expect(summary.table == table)
    }
}
