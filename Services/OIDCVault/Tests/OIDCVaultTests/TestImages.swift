import Foundation
import VaultZKP

/// Photos for the tests, drawn from a seed: soft blobs of light on a gradient, as a face
/// or a scene is to a 32×32 DCT. Perturbations stand for a second photo of the same thing.
enum TestImages {
    static func scene(seed: UInt64, width: Int = 160, height: Int = 120) -> GrayImage {
        var random = SplitMix64(seed: seed)
        let blobs = (0..<6).map { _ in
            (x: Double.random(in: 0...1, using: &random), y: Double.random(in: 0...1, using: &random),
             r: Double.random(in: 0.08...0.3, using: &random), v: Double.random(in: -70...70, using: &random))
        }
        // Objects with hard edges: what gives a photo its detail.
        let shapes = (0..<14).map { _ in
            (x0: Double.random(in: 0...0.9, using: &random), y0: Double.random(in: 0...0.9, using: &random),
             w: Double.random(in: 0.04...0.35, using: &random), h: Double.random(in: 0.04...0.35, using: &random),
             v: Double.random(in: -60...60, using: &random), round: Bool.random(using: &random))
        }
        let gx = Double.random(in: -50...50, using: &random), gy = Double.random(in: -50...50, using: &random)
        var pixels = [Double](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let u = Double(x) / Double(width), v = Double(y) / Double(height)
                var value = 128 + gx * (u - 0.5) + gy * (v - 0.5)
                for blob in blobs {
                    let d2 = (u - blob.x) * (u - blob.x) + (v - blob.y) * (v - blob.y)
                    value += blob.v * exp(-d2 / (blob.r * blob.r))
                }
                for shape in shapes {
                    let dx = (u - shape.x0) / shape.w, dy = (v - shape.y0) / shape.h
                    let inside = shape.round ? (dx - 0.5) * (dx - 0.5) + (dy - 0.5) * (dy - 0.5) <= 0.25 : (0...1).contains(dx) && (0...1).contains(dy)
                    if inside { value += shape.v }
                }
                pixels[y * width + x] = max(0, min(255, value))
            }
        }
        return GrayImage(width: width, height: height, pixels: pixels)
    }

    /// Gaussian noise of `sigma` grey levels (Box–Muller), clipped to 0…255.
    static func noisy(_ image: GrayImage, sigma: Double, seed: UInt64 = 7) -> GrayImage {
        var random = SplitMix64(seed: seed)
        var out = image
        for index in out.pixels.indices {
            let u1 = max(Double.random(in: 0..<1, using: &random), 1e-12), u2 = Double.random(in: 0..<1, using: &random)
            out.pixels[index] = max(0, min(255, (out.pixels[index] + sigma * sqrt(-2 * log(u1)) * cos(2 * .pi * u2)).rounded()))
        }
        return out
    }

    static func brighter(_ image: GrayImage, by delta: Double) -> GrayImage {
        GrayImage(width: image.width, height: image.height, pixels: image.pixels.map { max(0, min(255, $0 + delta)) })
    }

    /// Resized to `factor` of its size, as a camera a little farther away would see it.
    static func scaled(_ image: GrayImage, _ factor: Double) -> GrayImage {
        image.resized(width: Int(Double(image.width) * factor), height: Int(Double(image.height) * factor))
    }
}
