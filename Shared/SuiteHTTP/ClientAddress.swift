import Foundation
import HTTPTypes
public import Hummingbird

extension Request {
    /// The client's address, for rate limits and logs: the last `X-Forwarded-For` entry,
    /// which is the one our gateway appended (entries before it come from the client and
    /// could be forged), else the socket's peer.
    public func clientAddress(context: some SuiteRequestContext) -> String {
        if let forwarded = headers[values: HTTPField.Name("X-Forwarded-For")!].last?.split(separator: ",").last {
            return forwarded.trimmingCharacters(in: .whitespaces)
        }
        return context.remoteAddress ?? "unknown"
    }
}
