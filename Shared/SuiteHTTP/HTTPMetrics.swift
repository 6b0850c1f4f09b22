public import Prometheus
public import SuitePostgres
import SuiteCore

/// Request count and latency by route and status, in Prometheus text at `/metrics`.
/// Each service has its own registry, so several services can share a process (the
/// integration tests) without mixing their numbers.
public final class HTTPMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// Read by every request, written once per new (method, route, status): readers share
    /// the lock.
    private let series = ReadMostly<[SeriesKey: (Counter, DurationHistogram)]>([:])

    private struct SeriesKey: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    static let buckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5),
    ]

    /// Counters and gauges made by name and labels on first use (`count`, `set`).
    private let counters = ReadMostly<[NamedSeries: Counter]>([:])
    private let gauges = ReadMostly<[NamedSeries: Gauge]>([:])
    /// Work done before each scrape: gauges read from the process or the database.
    private let collectors = ReadMostly<[@Sendable () async -> Void]>([])

    private struct NamedSeries: Hashable {
        var name: String
        var labels: [String]

        init(_ name: String, _ labels: [(String, String)]) {
            self.name = name
            self.labels = labels.flatMap { [$0.0, $0.1] }
        }
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// Adds one to the counter `name` with `labels`, made on first use. Label values must
    /// come from a bounded set (an outcome, a limit's name), never from input.
    public func count(_ name: String, help: String, labels: [(String, String)] = [], by amount: Int = 1) {
        Self.cached(counters, NamedSeries(name, labels)) {
            registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
        }.increment(by: Int64(amount))
    }

    /// Sets the gauge `name` with `labels` (made on first use) to `value`: for a collector.
    public func set(_ name: String, help: String, labels: [(String, String)] = [], to value: Double) {
        Self.cached(gauges, NamedSeries(name, labels)) {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
        }.set(value)
    }

    /// The series cached under `key`, made once (under the write lock) when new: readers
    /// share the lock, so a known series costs one shared read.
    private static func cached<Key: Hashable, Value>(_ cache: ReadMostly<[Key: Value]>, _ key: Key, make: () -> Value) -> Value {
        cache.read({ $0[key] }) ?? cache.write { cache in
            if let known = cache[key] { return known }
            let made = make()
            cache[key] = made
            return made
        }
    }

    /// Runs `collect` before each scrape (it sets gauges of this registry).
    public func addCollector(_ collect: @escaping @Sendable () async -> Void) {
        collectors.write { $0.append(collect) }
    }

    /// `suite_build_info{service, version} 1`: which build a scraped process runs.
    public func recordBuildInfo(service: String) {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: "suite_build_info", unitName: "", helpText: "The build a process runs (always 1)"),
            labels: [("service", service), ("version", SuiteVersion.current)]
        ).set(Int64(1))
    }

    /// Records one request. `route` is the matched route pattern (`/rooms/{id}`), never
    /// the raw path, so the number of series stays bounded.
    public func record(method: String, route: String, status: Int, duration: Duration) {
        let (counter, histogram) = Self.cached(series, SeriesKey(method: method, route: route, status: status)) {
            let labels = [("method", method), ("route", route), ("status", String(status))]
            let requests = MetricNameDescriptor(
                namespace: "http", metricName: "requests", unitName: "total", helpText: "HTTP requests served")
            let durations = MetricNameDescriptor(
                namespace: "http", metricName: "request_duration", unitName: "seconds",
                helpText: "Time from request head to response head")
            return (
                registry.makeCounter(descriptor: requests, labels: labels),
                registry.makeDurationHistogram(descriptor: durations, labels: labels, buckets: Self.buckets)
            )
        }
        counter.increment()
        histogram.record(duration)
    }

    /// The registry in Prometheus text, after the collectors ran.
    public func exposition() async -> [UInt8] {
        for collect in collectors.read({ $0 }) { await collect() }
        return registry.emitToBuffer()
    }
}

/// Each outbox's deliveries and failed attempts, as counters.
extension HTTPMetrics: OutboxObserver {
    public func delivered(_ count: Int, outbox: String) {
        guard count > 0 else { return }
        self.count("suite_outbox_sent_total", help: "Messages delivered", labels: [("outbox", outbox)], by: count)
    }

    public func failed(outbox: String, givenUp: Bool) {
        self.count(
            "suite_outbox_failures_total", help: "Failed delivery attempts: retried later, or given up after the last",
            labels: [("outbox", outbox), ("outcome", givenUp ? "given_up" : "retry")])
    }
}
