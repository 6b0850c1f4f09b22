/// A page of a listing as the caller asked for it, within bounds.
public struct PageRequest: Sendable, Equatable {
    /// 1-based page number.
    public let page: Int
    /// Items per page.
    public let size: Int

    public var offset: Int { (page - 1) * size }

    public init(page: Int, size: Int) {
        self.page = page
        self.size = size
    }

    /// Reads `page` and the size parameter from query values. Missing values take the
    /// defaults; anything else that is not a whole number in bounds is a 400 naming the
    /// parameter, never a silent clamp (the caller would miss items without knowing).
    public static func parse(
        page: String?,
        size: String?,
        sizeParameter: String = "page_size",
        defaultSize: Int = 20,
        maxSize: Int = 100
    ) throws(AppError) -> PageRequest {
        let pageNumber = try number(page, name: "page", default: 1, range: 1...(Int.max / max(maxSize, 1)))
        let pageSize = try number(size, name: sizeParameter, default: defaultSize, range: 1...maxSize)
        return PageRequest(page: pageNumber, size: pageSize)
    }

    private static func number(_ text: String?, name: String, default value: Int, range: ClosedRange<Int>) throws(AppError) -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            let upper = range.upperBound > 1_000_000 ? "" : " and at most \(range.upperBound)"
            throw AppError(
                status: .badRequest, code: "invalid_pagination",
                detail: "\(name) must be a whole number of at least \(range.lowerBound)\(upper).",
                members: ["parameter": .string(name)])
        }
        return number
    }
}
