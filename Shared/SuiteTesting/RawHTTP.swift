import NIOCore
import NIOPosix

/// Writes `request` as it is to 127.0.0.1:`port` and reads until the server closes the
/// connection (or `timeout` passes): for what an HTTP client library hides, such as
/// several requests on one connection and who closes it.
public func rawHTTPExchange(port: Int, _ request: String, timeout: Duration = .seconds(5)) async throws -> String {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    return try await withThrowingTaskGroup(of: String?.self) { group in
        group.addTask {
            try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: request))
                var received = ByteBuffer()
                for try await var part in inbound { received.writeBuffer(&part) }
                return String(buffer: received)
            }
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let answer = try await group.next() ?? nil else {
            channel.channel.close(promise: nil)
            throw RawHTTPTimeout()
        }
        return answer
    }
}

/// The server kept the connection open past the exchange's timeout.
public struct RawHTTPTimeout: Error {}
