import HTTPTypes
import Hummingbird
import Instrumentation
import Tracing

/// A server span per request, continuing the caller's `traceparent`, named by the matched
/// route (`/rooms/{id}`), with OpenTelemetry's HTTP attributes. Hummingbird's own
/// TracingMiddleware builds the attributes of every span; a sampler that keeps 1 % of the
/// traces then still paid for the other 99 %. This one fills a span in only when it
/// records. The span ends at the response head, as `http_request_duration_seconds` does.
struct RequestSpanMiddleware<Context: SuiteRequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var parent = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(request.headers, into: &parent, using: HeaderExtractor())
        let span = startSpan("HTTP \(request.method.rawValue)", context: parent, ofKind: .server)
        let recording = span.isRecording
        if recording {
            span.updateAttributes { attributes in
                attributes["http.request.method"] = request.method.rawValue
                attributes["url.path"] = request.uri.path
                attributes["user_agent.original"] = request.headers[.userAgent]
                attributes["client.address"] = request.clientAddress(context: context)
            }
        }
        do {
            let response = try await ServiceContext.$current.withValue(span.context) { try await next(request, context) }
            if recording { finish(span, route: context.endpointPath, status: Int(response.status.code)) }
            span.end()
            return response
        } catch {
            if recording {
                let status = (error as? any HTTPResponseError)?.status.code ?? 500
                finish(span, route: context.endpointPath, status: Int(status))
                if status >= 500 { span.setStatus(.init(code: .error)) }
                span.recordError(error)
            }
            span.end()
            throw error
        }
    }

    private func finish(_ span: any Span, route: String?, status: Int) {
        if let route { span.operationName = route }
        span.updateAttributes { attributes in
            attributes["http.route"] = route
            attributes["http.response.status_code"] = status
        }
    }
}

private struct HeaderExtractor: Extractor {
    func extract(key: String, from headers: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { headers[$0] }
    }
}
