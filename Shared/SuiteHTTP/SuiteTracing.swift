import Foundation
import Logging
import OTel
public import SuiteCore
import ServiceLifecycle
import Tracing

/// OpenTelemetry tracing, on when `TracingSwitch` says so; every other `OTEL_*` variable
/// (sampler, batch delays, headers, resource attributes) is swift-otel's. Spans: each
/// request (continuing the caller's `traceparent`), each call to a peer or a third
/// party (AsyncHTTPClient's own client spans, which carry the trace on), each SQL
/// statement (`PostgresClient.sql`), and each outbox pass that delivers something. Every log line of a traced request carries `trace_id`
/// and `span_id`. Off, nothing is started and requests pay nothing.
public enum SuiteTracing {
    public static var enabled: Bool { TracingSwitch.enabled }

    public static func isConfigured(_ environment: [String: String]) -> Bool {
        TracingSwitch.isConfigured(environment)
    }

    /// What is wrong with the exporter's settings, if anything. swift-otel is built with
    /// OTLP/HTTP only and stops the process when asked for gRPC: refused here instead,
    /// naming the setting.
    public static func problem(_ environment: [String: String]) -> ConfigurationError? {
        for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            guard let value = environment[name] else { continue }
            if ["http/protobuf", "http/json"].contains(value.lowercased()) { return nil }
            return ConfigurationError(name, "\(value) is not built in: use http/protobuf or http/json (OTLP over HTTP, port 4318)")
        }
        return nil
    }

    /// Bootstraps the process' tracer (once, by `serve`) and returns the service that
    /// exports its spans, to run first and stop last; nil when tracing is off.
    static func bootstrap(serviceName: String, logger: Logger) throws -> (any Service)? {
        guard enabled else { return nil }
        if let problem = problem(ProcessInfo.processInfo.environment) { throw problem }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        // swift-otel's own messages go to the service's log (JSON), warnings and worse.
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.traces.enabled = true
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(tracer)
        return service
    }

    /// `trace_id` and `span_id` on every log line written inside a span.
    static var logMetadataProvider: Logger.MetadataProvider? {
        enabled ? OTel.makeLoggingMetadataProvider() : nil
    }
}
