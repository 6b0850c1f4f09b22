/// Splits a migration file into statements, since PostgresNIO sends each query as one
/// prepared statement. Semicolons inside quoted strings, quoted identifiers, comments
/// and dollar-quoted bodies (`DO $$ … $$`, functions) do not split.
public enum SQLScript {
    public static func statements(_ script: String) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0

        func flush() {
            let text = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty, !isOnlyComments(text) { statements.append(text) }
            current = String.UnicodeScalarView()
        }

        func copy(until end: Int) {
            current.append(contentsOf: chars[index..<min(end, chars.count)])
            index = min(end, chars.count)
        }

        func find(_ needle: [Unicode.Scalar], from start: Int) -> Int? {
            guard !needle.isEmpty, chars.count >= needle.count else { return nil }
            var position = start
            while position + needle.count <= chars.count {
                if Array(chars[position..<position + needle.count]) == needle { return position }
                position += 1
            }
            return nil
        }

        while index < chars.count {
            let char = chars[index]
            let next: Unicode.Scalar? = index + 1 < chars.count ? chars[index + 1] : nil
            switch char {
            case ";":
                index += 1
                flush()
            case "'", "\"":
                // Quotes are escaped by doubling, so scanning to the next quote and going on
                // handles `'it''s'` as two adjacent strings: the same text.
                let end = chars[(index + 1)...].firstIndex(of: char).map { $0 + 1 } ?? chars.count
                copy(until: end)
            case "-" where next == "-":
                let end = chars[index...].firstIndex(of: "\n") ?? chars.count
                copy(until: end)
            case "/" where next == "*":
                var depth = 0
                var position = index
                while position < chars.count {
                    if chars[position] == "/", position + 1 < chars.count, chars[position + 1] == "*" {
                        depth += 1
                        position += 2
                    } else if chars[position] == "*", position + 1 < chars.count, chars[position + 1] == "/" {
                        depth -= 1
                        position += 2
                        if depth == 0 { break }
                    } else {
                        position += 1
                    }
                }
                copy(until: position)
            case "$":
                // A dollar quote: $$ or $tag$, where tag is an identifier.
                var position = index + 1
                while position < chars.count, chars[position] == "_" || chars[position].properties.isAlphabetic
                    || ("0"..."9").contains(chars[position])
                {
                    position += 1
                }
                if position < chars.count, chars[position] == "$" {
                    let tag = Array(chars[index...position])
                    let close = find(tag, from: position + 1).map { $0 + tag.count } ?? chars.count
                    copy(until: close)
                } else {
                    copy(until: index + 1)
                }
            default:
                copy(until: index + 1)
            }
        }
        flush()
        return statements
    }

    private static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
    }
}
