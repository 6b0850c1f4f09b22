public import Logging
public import PostgresNIO
public import ServiceLifecycle

/// Wakes a service's outbox workers the moment a message is committed, on every replica:
/// each outbox table has a trigger (`OutboxListener.triggerSQL`) that sends
/// `NOTIFY suite_outbox, '<schema>.<table>'` when a statement inserted rows. PostgreSQL
/// delivers a notification only once its transaction commits, so a worker never wakes for
/// a message that was rolled back, and every replica (this one included) hears it. This
/// listener holds one connection in `LISTEN` and rings the table's `Doorbell`.
///
/// The workers' polling stays as the fallback: while the listener is down (PostgreSQL
/// restarting), messages leave on the next poll, and the listener reconnects every second.
public struct OutboxListener: Service {
    public static let channel = "suite_outbox"

    let database: PostgresClient
    let schema: String
    let logger: Logger
    let doorbells: [String: Doorbell]

    /// One doorbell per table of `tables`, in the service's `schema`.
    public init(database: PostgresClient, schema: String, tables: [String], logger: Logger) {
        self.database = database
        self.schema = schema
        self.logger = logger
        self.doorbells = Dictionary(uniqueKeysWithValues: tables.map { ("\(schema).\($0)", Doorbell()) })
    }

    /// The doorbell of `table` (one of those given at init).
    public func doorbell(_ table: String) -> Doorbell? { doorbells["\(schema).\(table)"] }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown {
                    try await database.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            logger.debug("listening for outbox notifications")
                            // Anything committed while nobody listened leaves now, not at the next poll.
                            for doorbell in doorbells.values { doorbell.ring() }
                            for try await notification in notifications {
                                doorbells[notification.payload]?.ring()
                            }
                        }
                    }
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.warning("outbox listener lost its connection; polling until it is back", metadata: ["error": "\(String(reflecting: error))"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            } catch {
                return
            }
        }
    }

    /// The trigger function and one trigger per table, for a service's migration (write
    /// the output into a frozen `.sql` file). Statement-level with a transition table: one
    /// notification per statement that inserted rows, none for one that inserted nothing.
    public static func triggerSQL(tables: [String]) -> String {
        var sql = """
            CREATE OR REPLACE FUNCTION suite_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF EXISTS (SELECT 1 FROM inserted) THEN
                    PERFORM pg_notify('\(channel)', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
                END IF;
                RETURN NULL;
            END
            $$;

            """
        for table in tables {
            sql += """
                CREATE TRIGGER \(table)_notify AFTER INSERT ON \(table)
                    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION suite_outbox_notify();

                """
        }
        return sql
    }
}
