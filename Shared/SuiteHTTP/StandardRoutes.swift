import Foundation
import Hummingbird
import NIOCore
import PostgresNIO
import SuiteCore

/// The routes every service serves the same way.
enum StandardRoutes {
    static func add<Context: SuiteRequestContext>(
        to router: Router<Context>, dependencies: SuiteDependencies, openAPIDocument: [UInt8]
    ) {
        // Probes, scrapers and clients reading the document or the keys bring no credentials.
        dependencies.access.open(router) { addPublic(to: router, dependencies: dependencies, openAPIDocument: openAPIDocument) }

        // Proves the trust wiring: any trusted peer with a valid token may call it.
        router.group("/internal/ping")
            .add(middleware: ServiceTokenMiddleware(verifier: dependencies.verifier))
            .get { _, context in
                let caller = context.serviceCaller?.service ?? ""
                let body = CanonicalJSON.bytes(["service": .string(dependencies.configuration.serviceName), "caller": .string(caller)])
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
            }
    }

    /// The document as this deployment serves it: its first server is the deployment's
    /// public address (PUBLIC_URL; without the service's prefix when the document's paths
    /// carry it, as meet-rooms' and identity-associations' do), so "try it" in a browsed
    /// reference calls this deployment and not `make run`'s localhost.
    static func served(_ document: [UInt8], publicURL: String, publicPath: String) -> [UInt8] {
        var text = String(decoding: document, as: UTF8.self)
        guard let marker = text.range(of: "\nservers:\n- url: "), let end = text[marker.upperBound...].firstIndex(of: "\n") else {
            return document
        }
        let written = text[marker.upperBound..<end]
        let pathsCarryPrefix = !publicPath.isEmpty && !written.hasSuffix(publicPath)
        let url = pathsCarryPrefix && publicURL.hasSuffix(publicPath) ? String(publicURL.dropLast(publicPath.count)) : publicURL
        text.replaceSubrange(marker.upperBound..<end, with: url)
        return Array(text.utf8)
    }

    private static func addPublic<Context: SuiteRequestContext>(
        to router: Router<Context>, dependencies: SuiteDependencies, openAPIDocument: [UInt8]
    ) {
        router.get("/health/live") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }

        // Ready means the database answers within a second: a probe must get its answer
        // quickly even when PostgreSQL is down, and the service keeps running meanwhile.
        router.get("/health/ready") { _, _ in
            if dependencies.shutdown.isDraining {
                throw AppError.unavailable("The service is shutting down.", retryAfterSeconds: 1).with("checks", ["shutdown": "draining"])
            }
            do {
                _ = try await withTimeout(seconds: 1) {
                    try await dependencies.database.sql("SELECT 1", logger: dependencies.logger).collect()
                }
            } catch {
                throw AppError.unavailable("The database is not reachable.", retryAfterSeconds: 1)
                    .with("checks", ["database": "unavailable"])
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok","checks":{"database":"ok"}}"#)))
        }

        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: await dependencies.metrics.exposition())))
        }

        let document = ByteBuffer(bytes: openAPIDocument)
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: document))
        }

        let jwks = ByteBuffer(data: (try? JSONEncoder().encode(dependencies.signer.jwks)) ?? Data())
        router.get("/internal/jwks.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "max-age=300"],
                body: .init(byteBuffer: jwks))
        }
    }
}
