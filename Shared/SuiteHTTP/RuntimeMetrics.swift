import Foundation
import Logging
import PostgresNIO
import Prometheus
import SuiteCore

#if canImport(Glibc)
    import Glibc
#endif

/// What every service exports beside its requests, read at each scrape: the process
/// (memory, CPU, file descriptors, start time, as Prometheus' own process collector
/// names them), the database pool, and each outbox (messages waiting, the age of the
/// oldest, those being retried and those given up).
enum RuntimeMetrics {
    /// `process_*` from /proc/self (Linux); elsewhere nothing.
    static func process(_ metrics: HTTPMetrics) {
        guard let first = ProcessStat.read() else { return }
        // The start never moves: set once.
        metrics.set("process_start_time_seconds", help: "Start time of the process since the epoch, in seconds",
            to: ProcessStat.bootTime() + first.startSinceBoot)
        let cpu = metrics.registry.makeCounter(
            descriptor: MetricNameDescriptor(metricName: "process_cpu_seconds_total", unitName: "", helpText: "User and system CPU time spent, in seconds"))
        let lastCPU = ReadMostly<Double>(0)
        metrics.addCollector {
            guard let stat = ProcessStat.read() else { return }
            metrics.set("process_resident_memory_bytes", help: "Resident memory size in bytes", to: Double(stat.residentBytes))
            metrics.set("process_virtual_memory_bytes", help: "Virtual memory size in bytes", to: Double(stat.virtualBytes))
            metrics.set("process_open_fds", help: "Open file descriptors", to: Double(ProcessStat.openFileDescriptors()))
            metrics.set("process_max_fds", help: "The limit of open file descriptors", to: Double(ProcessStat.fileDescriptorLimit()))
            // A counter moves by the CPU time spent since the last scrape.
            let delta = lastCPU.write { last -> Double in
                let delta = max(0, stat.cpuSeconds - last)
                last = max(last, stat.cpuSeconds)
                return delta
            }
            if delta > 0 { cpu.increment(by: delta) }
        }
    }

    /// The database as this process sees it, read at each scrape through one lease of
    /// the pool:
    /// - `suite_db_pool_acquire_seconds`: how long that lease waited, which is what a
    ///   request arriving now waits for a connection (postgres-nio does not expose its
    ///   pool's queue, so the scrape measures it by standing in it);
    /// - `suite_db_pool_connections{state}`: this process' other connections, in use
    ///   (running a statement or holding a transaction), `listening` (held by an outbox
    ///   listener) or idle, counted by PostgreSQL in `pg_stat_activity` by the
    ///   process' `application_name`; `suite_db_pool_max_connections`, the pool's size;
    /// - `suite_outbox_*{outbox}` for each outbox table of the service.
    /// A lease or a read that takes more than a second leaves the last values (a scrape
    /// must work during an outage, which is when it matters); the acquire time then says
    /// how long the scrape waited in vain.
    static func database(
        outboxes tables: [String], applicationName: String, poolSize: Int, metrics: HTTPMetrics, database: PostgresClient, logger: Logger
    ) {
        metrics.set("suite_db_pool_max_connections", help: "Connections the pool may open", to: Double(poolSize))
        // Table names are the service's own constants, never input.
        let outboxSQL = tables.map { table in
            """
            SELECT '\(table)', p.pending, p.retrying, (SELECT count(*) FROM \(table) WHERE failed_at IS NOT NULL),
                   coalesce(extract(epoch FROM now() - p.oldest), 0)::float8
            FROM (SELECT count(*) AS pending, count(*) FILTER (WHERE attempts > 0) AS retrying, min(created_at) AS oldest
                  FROM \(table) WHERE sent_at IS NULL AND failed_at IS NULL) p
            """
        }.joined(separator: "\nUNION ALL\n")
        metrics.addCollector {
            let started = ContinuousClock.now
            let acquired = ReadMostly(false)
            do {
                try await withTimeout(seconds: 1) {
                    try await database.withConnection { connection in
                        setAcquire(ContinuousClock.now - started, metrics)
                        acquired.write { $0 = true }
                        try await readPool(applicationName, on: connection, metrics: metrics, logger: logger)
                        if !tables.isEmpty { try await readOutboxes(outboxSQL, on: connection, metrics: metrics, logger: logger) }
                    }
                }
            } catch {
                // Never leased: the wait so far is the truth (at least that long).
                if !acquired.read({ $0 }) { setAcquire(ContinuousClock.now - started, metrics) }
                metrics.count("suite_metrics_collect_failures_total", help: "Scrapes whose database-backed gauges could not be read")
                logger.debug("database metrics not read", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            }
        }
    }

    private static func setAcquire(_ waited: Duration, _ metrics: HTTPMetrics) {
        metrics.set(
            "suite_db_pool_acquire_seconds", help: "Time the last scrape waited for a pooled connection",
            to: Double(waited.components.seconds) + Double(waited.components.attoseconds) / 1e18)
    }

    /// `suite_db_pool_connections{state}` from `pg_stat_activity`, the scrape's own connection left out.
    private static func readPool(_ applicationName: String, on connection: PostgresConnection, metrics: HTTPMetrics, logger: Logger) async throws {
        let rows = try await connection.sql(
            """
            SELECT count(*) FILTER (WHERE state = 'idle' AND query NOT LIKE 'LISTEN %'),
                   count(*) FILTER (WHERE state = 'idle' AND query LIKE 'LISTEN %'),
                   count(*) FILTER (WHERE state <> 'idle')
            FROM pg_stat_activity WHERE application_name = \(applicationName) AND pid <> pg_backend_pid()
            """, logger: logger
        ).collect()
        guard let (idle, listening, inUse) = try rows.first?.decode((Int, Int, Int).self) else { return }
        let help = "This process' other connections to PostgreSQL, by what they do"
        for (state, count) in [("idle", idle), ("listening", listening), ("in_use", inUse)] {
            metrics.set("suite_db_pool_connections", help: help, labels: [("state", state)], to: Double(count))
        }
    }

    /// `suite_outbox_*{outbox}` for every outbox, in one statement.
    private static func readOutboxes(_ sql: String, on connection: PostgresConnection, metrics: HTTPMetrics, logger: Logger) async throws {
        for try await (table, pending, retrying, givenUp, oldest) in try await connection.sql(PostgresQuery(unsafeSQL: sql), logger: logger)
            .decode((String, Int, Int, Int, Double).self)
        {
            let outbox = [("outbox", table)]
            metrics.set("suite_outbox_pending", help: "Messages waiting to be delivered", labels: outbox, to: Double(pending))
            metrics.set("suite_outbox_retrying", help: "Waiting messages that failed at least once", labels: outbox, to: Double(retrying))
            metrics.set(
                "suite_outbox_given_up", help: "Messages given up after the last attempt, kept for an operator", labels: outbox, to: Double(givenUp))
            metrics.set("suite_outbox_oldest_pending_age_seconds", help: "Age of the oldest waiting message (0: none)", labels: outbox, to: oldest)
        }
    }
}

/// The process' own numbers, from /proc/self/stat (proc(5)).
struct ProcessStat {
    var cpuSeconds: Double
    var virtualBytes: Int
    var residentBytes: Int
    /// Seconds from boot to the process' start.
    var startSinceBoot: Double

    static func read() -> ProcessStat? {
        #if os(Linux)
            guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
                let close = text.lastIndex(of: ")")
            else { return nil }
            // After the command name, which may hold spaces: field 3 (state) onwards.
            let fields = text[text.index(after: close)...].split(separator: " ")
            guard fields.count > 22, let utime = Double(fields[11]), let stime = Double(fields[12]), let start = Double(fields[19]),
                let virtual = Int(fields[20]), let residentPages = Int(fields[21])
            else { return nil }
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            return ProcessStat(
                cpuSeconds: (utime + stime) / ticks, virtualBytes: virtual, residentBytes: residentPages * page,
                startSinceBoot: start / ticks)
        #else
            return nil
        #endif
    }

    /// Seconds since the epoch at boot (`btime` of /proc/stat).
    static func bootTime() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("btime ") })
        else { return 0 }
        return Double(line.dropFirst(6)) ?? 0
    }

    static func openFileDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    static func fileDescriptorLimit() -> Int {
        #if canImport(Glibc)
            var limit = rlimit()
            guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
            return Int(limit.rlim_cur)
        #else
            return 0
        #endif
    }
}
