public import Logging
public import PostgresNIO
import SuiteCore
import Tracing

// Every statement of the services runs through `sql`: with tracing on it is a client
// span under the request's (postgres-nio traces nothing itself); off, it is the plain
// call and costs one check of a constant. `scripts/check-layout` keeps `query(` and
// `execute(` out of the services' sources.

extension PostgresClient {
    /// `query`, in a span when tracing is on.
    @discardableResult
    public func sql(_ query: PostgresQuery, logger: Logger? = nil, file: String = #fileID, line: Int = #line) async throws
        -> PostgresRowSequence
    {
        guard TracingSwitch.enabled else { return try await self.query(query, logger: logger, file: file, line: line) }
        return try await SQLSpan.around(query.sql) { try await self.query(query, logger: logger, file: file, line: line) }
    }

    /// `execute` of a prepared statement, in a span when tracing is on.
    public func sql<Statement: PostgresPreparedStatement, Row>(
        _ statement: Statement, logger: Logger? = nil, file: String = #fileID, line: Int = #line
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Row> where Row == Statement.Row {
        guard TracingSwitch.enabled else { return try await execute(statement, logger: logger, file: file, line: line) }
        return try await SQLSpan.around(Statement.sql) { try await self.execute(statement, logger: logger, file: file, line: line) }
    }
}

extension PostgresConnection {
    /// `query`, in a span when tracing is on.
    @discardableResult
    public func sql(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws
        -> PostgresRowSequence
    {
        guard TracingSwitch.enabled else { return try await self.query(query, logger: logger, file: file, line: line) }
        return try await SQLSpan.around(query.sql) { try await self.query(query, logger: logger, file: file, line: line) }
    }
}

enum SQLSpan {
    /// Runs `body` in a client span named as OpenTelemetry's database conventions ask
    /// (`SELECT rooms`), with the statement's text: its values are binds, never in it.
    /// The span ends when the server has answered; the rows stream after it. The name and
    /// attributes are worked out only for a span that records: a statement of a request
    /// the sampler left out costs the span's start alone.
    static func around<T>(_ sql: String, _ body: () async throws -> T) async throws -> T {
        try await withSpan("SQL", ofKind: .client) { span in
            if span.isRecording {
                let (operation, table) = summary(sql)
                span.operationName = table.map { "\(operation) \($0)" } ?? operation
                span.updateAttributes { attributes in
                    attributes["db.system.name"] = "postgresql"
                    attributes["db.operation.name"] = operation
                    if let table { attributes["db.collection.name"] = table }
                    attributes["db.query.text"] = sql
                }
            }
            return try await body()
        }
    }

    /// The statement's first keyword and the table it reads or writes first: after
    /// `INTO`, `UPDATE` or the first `FROM`. A `WITH` is named by its keyword alone.
    static func summary(_ sql: String) -> (operation: String, table: String?) {
        let words = sql.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "(" || $0 == "," })
        guard let first = words.first?.uppercased() else { return ("SQL", nil) }
        let marker: Set<String> =
            switch first {
            case "INSERT": ["INTO"]
            case "UPDATE": ["UPDATE"]
            case "SELECT", "DELETE": ["FROM"]
            default: []
            }
        guard let index = words.firstIndex(where: { marker.contains($0.uppercased()) }), index + 1 < words.count else { return (first, nil) }
        let table = words[index + 1].prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        return (first, table.isEmpty ? nil : String(table))
    }
}
