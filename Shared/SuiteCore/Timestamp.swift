public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Dates as the services' seeds write them, without a `DateFormatter` or a format
/// style (these run for every item of every listing).
public enum Timestamp {
    /// `2004-02-12T15:20:21+00:00`
    public static func iso(_ date: Date) -> String {
        let (d, t) = parts(date)
        return d + "T" + t + "+00:00"
    }

    /// `2017-08-24 10:18:30`
    public static func plain(_ date: Date) -> String {
        let (d, t) = parts(date)
        return d + " " + t
    }

    /// `2017-07-03T11:20:35+0000`, the event bodies' form.
    public static func compact(_ date: Date) -> String {
        let (d, t) = parts(date)
        return d + "T" + t + "+0000"
    }

    /// `2017-07-03T11:20:35.000Z`, the event store's `occurred_on`.
    public static func millis(_ date: Date) -> String {
        let (d, t) = parts(date)
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        return d + "T" + t + "." + pad(ms, 3) + "Z"
    }

    private static func parts(_ date: Date) -> (String, String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var fields = tm()
        gmtime_r(&seconds, &fields)
        return (
            pad(Int(fields.tm_year) + 1900, 4) + "-" + pad(Int(fields.tm_mon) + 1, 2) + "-" + pad(Int(fields.tm_mday), 2),
            pad(Int(fields.tm_hour), 2) + ":" + pad(Int(fields.tm_min), 2) + ":" + pad(Int(fields.tm_sec), 2)
        )
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
