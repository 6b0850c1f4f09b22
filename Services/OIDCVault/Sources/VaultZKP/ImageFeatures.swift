import Foundation

/// A grayscale image, values 0…255, row by row.
public struct GrayImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [Double]

    public init(width: Int, height: Int, pixels: [Double]) {
        precondition(pixels.count == width * height)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public enum ReadError: Error, Equatable {
        case unsupported(String)
        case truncated
    }

    /// Reads binary PGM (P5) or PPM (P6), 8-bit, as netpbm writes them; colour becomes
    /// luma (ITU-R BT.601).
    public static func read(netpbm data: [UInt8]) throws(ReadError) -> GrayImage {
        var index = 0
        func token() throws(ReadError) -> String {
            while index < data.count {
                if data[index] == UInt8(ascii: "#") {
                    while index < data.count, data[index] != 0x0A { index += 1 }
                } else if [0x20, 0x09, 0x0A, 0x0D].contains(data[index]) {
                    index += 1
                } else {
                    break
                }
            }
            let start = index
            while index < data.count, ![0x20, 0x09, 0x0A, 0x0D].contains(data[index]) { index += 1 }
            guard index > start else { throw .truncated }
            return String(decoding: data[start..<index], as: UTF8.self)
        }
        let magic = try token()
        guard magic == "P5" || magic == "P6" else { throw .unsupported("only binary PGM (P5) and PPM (P6) are read") }
        guard let width = Int(try token()), let height = Int(try token()), let maxValue = Int(try token()),
            (1...8192).contains(width), (1...8192).contains(height), (1...255).contains(maxValue)
        else { throw .unsupported("the header must give a size up to 8192 and an 8-bit maximum") }
        index += 1  // the single white-space byte before the raster
        let channels = magic == "P6" ? 3 : 1
        guard data.count - index >= width * height * channels else { throw .truncated }
        let scale = 255.0 / Double(maxValue)
        var pixels = [Double](repeating: 0, count: width * height)
        for i in 0..<(width * height) {
            let base = index + i * channels
            pixels[i] = channels == 1
                ? Double(data[base]) * scale
                : (0.299 * Double(data[base]) + 0.587 * Double(data[base + 1]) + 0.114 * Double(data[base + 2])) * scale
        }
        return GrayImage(width: width, height: height, pixels: pixels)
    }

    /// The image as binary PGM.
    public var pgm: [UInt8] {
        Array("P5\n\(width) \(height)\n255\n".utf8) + pixels.map { UInt8(max(0, min(255, $0.rounded()))) }
    }

    /// Area-averaged resize (each target pixel is the mean of the source area it covers),
    /// so downscaling removes noise instead of aliasing it.
    public func resized(width newWidth: Int, height newHeight: Int) -> GrayImage {
        var out = [Double](repeating: 0, count: newWidth * newHeight)
        let sx = Double(width) / Double(newWidth), sy = Double(height) / Double(newHeight)
        for ty in 0..<newHeight {
            let y0 = Double(ty) * sy, y1 = y0 + sy
            for tx in 0..<newWidth {
                let x0 = Double(tx) * sx, x1 = x0 + sx
                var sum = 0.0, area = 0.0
                var y = Int(y0)
                while Double(y) < y1, y < height {
                    let wy = min(Double(y + 1), y1) - max(Double(y), y0)
                    var x = Int(x0)
                    while Double(x) < x1, x < width {
                        let w = wy * (min(Double(x + 1), x1) - max(Double(x), x0))
                        sum += pixels[y * width + x] * w
                        area += w
                        x += 1
                    }
                    y += 1
                }
                out[ty * newWidth + tx] = area > 0 ? sum / area : 0
            }
        }
        return GrayImage(width: newWidth, height: newHeight, pixels: out)
    }
}

/// The perceptual features of an image: the 2-D DCT-II of its 32×32 area-averaged
/// downscale. Low frequencies describe the picture's layout and survive noise,
/// brightness changes and resizing; the DC term (overall brightness) is never used.
public enum ImageFeatures {
    public static let side = 32
    /// Coefficients considered: the low-frequency 24×24 corner, less DC.
    public static let poolSide = 24
    public static let bitCount = 248

    /// The DCT coefficients of the pool, in row-major order of the 24×24 corner, less DC.
    public static func coefficients(of image: GrayImage) -> [Double] {
        let small = image.resized(width: side, height: side)
        let n = side
        var cosines = [Double](repeating: 0, count: n * n)
        for k in 0..<n {
            for i in 0..<n { cosines[k * n + i] = cos(Double.pi / Double(n) * (Double(i) + 0.5) * Double(k)) }
        }
        // Rows, then columns: O(n³) instead of O(n⁴).
        var rows = [Double](repeating: 0, count: n * n)
        for y in 0..<n {
            for k in 0..<poolSide {
                var sum = 0.0
                for x in 0..<n { sum += small.pixels[y * n + x] * cosines[k * n + x] }
                rows[y * n + k] = sum
            }
        }
        var pool: [Double] = []
        pool.reserveCapacity(poolSide * poolSide - 1)
        for v in 0..<poolSide {
            for u in 0..<poolSide where !(u == 0 && v == 0) {
                var sum = 0.0
                for y in 0..<n { sum += rows[y * n + u] * cosines[v * n + y] }
                pool.append(sum)
            }
        }
        return pool
    }

    /// The bits at `positions`: whether each coefficient is above the pool's median.
    public static func bits(of coefficients: [Double], at positions: [Int]) -> [UInt8] {
        let median = coefficients.sorted()[coefficients.count / 2]
        return positions.map { coefficients[$0] > median ? 1 : 0 }
    }

    /// At enrolment: the `bitCount` positions whose coefficients are farthest from the
    /// median, most reliable first — the bits least likely to flip on the next photo, and
    /// packed in that order, so the shaky ones share the last bytes of the codeword. The
    /// positions are helper data (public); the bits are not.
    public static func reliablePositions(of coefficients: [Double]) -> [Int] {
        let median = coefficients.sorted()[coefficients.count / 2]
        return Array(coefficients.indices.sorted { abs(coefficients[$0] - median) > abs(coefficients[$1] - median) }.prefix(bitCount))
    }
}
