/// Drawing on an RGB ``PNGImage`` for the charts TacoKit writes (loss curves, evaluation bars): points, lines,
/// filled rectangles and text in a 3 x 5 pixel font drawn at twice its size (8 pixels per character, 10 high).
/// Anything outside the picture is clipped.
public struct PlotCanvas: Sendable {
    public private(set) var picture: PNGImage
    public typealias Colour = [UInt8]

    /// A picture filled with `background`.
    public init(width: Int, height: Int, background: Colour) {
        picture = PNGImage(width: width, height: height, channels: 3)
        for i in stride(from: 0, to: picture.pixels.count, by: 3) { picture.pixels.replaceSubrange(i..<(i + 3), with: background) }
    }

    public var width: Int { picture.width }
    public var height: Int { picture.height }

    public mutating func set(_ x: Int, _ y: Int, _ colour: Colour) {
        guard x >= 0, x < picture.width, y >= 0, y < picture.height else { return }
        let i = (y * picture.width + x) * 3
        picture.pixels[i] = colour[0]
        picture.pixels[i + 1] = colour[1]
        picture.pixels[i + 2] = colour[2]
    }

    public mutating func line(from a: (Int, Int), to b: (Int, Int), colour: Colour) {
        let steps = max(abs(b.0 - a.0), abs(b.1 - a.1), 1)
        for s in 0...steps {
            let t = Double(s) / Double(steps)
            set(a.0 + Int((Double(b.0 - a.0) * t).rounded()), a.1 + Int((Double(b.1 - a.1) * t).rounded()), colour)
        }
    }

    /// Fills the rectangle with corners (x0, y0) and (x1, y1), both included, in either order.
    public mutating func fill(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, colour: Colour) {
        for y in min(y0, y1)...max(y0, y1) { for x in min(x0, x1)...max(x0, x1) { set(x, y, colour) } }
    }

    /// Pixels a string takes along x.
    public static func textWidth(_ string: String) -> Int { 8 * string.count }

    /// Draws `string` with its top-left corner at (x, y); upper-case letters are drawn as lower-case, characters
    /// without a glyph as a space.
    public mutating func text(_ string: String, x: Int, y: Int, colour: Colour) {
        for (index, character) in string.lowercased().enumerated() {
            guard let rows = Self.glyphs[character] else { continue }
            for (r, bits) in rows.enumerated() {
                for c in 0..<3 where bits & (4 >> c) != 0 {
                    for dy in 0..<2 { for dx in 0..<2 { set(x + index * 8 + 2 * c + dx, y + 2 * r + dy, colour) } }
                }
            }
        }
    }

    /// 3 x 5 glyphs, rows top first, bit 2 the left column.
    static let glyphs: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1],
        "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
        "a": [2, 5, 7, 5, 5], "b": [6, 5, 6, 5, 6], "c": [7, 4, 4, 4, 7], "d": [6, 5, 5, 5, 6], "e": [7, 4, 7, 4, 7],
        "f": [7, 4, 7, 4, 4], "g": [7, 4, 5, 5, 7], "h": [5, 5, 7, 5, 5], "i": [7, 2, 2, 2, 7], "j": [1, 1, 1, 5, 7],
        "k": [5, 5, 6, 5, 5], "l": [4, 4, 4, 4, 7], "m": [5, 7, 7, 5, 5], "n": [6, 5, 5, 5, 5], "o": [7, 5, 5, 5, 7],
        "p": [7, 5, 7, 4, 4], "q": [7, 5, 5, 7, 1], "r": [6, 5, 6, 5, 5], "s": [7, 4, 7, 1, 7], "t": [7, 2, 2, 2, 2],
        "u": [5, 5, 5, 5, 7], "v": [5, 5, 5, 5, 2], "w": [5, 5, 7, 7, 5], "x": [5, 5, 2, 5, 5], "y": [5, 5, 2, 2, 2],
        "z": [7, 1, 2, 4, 7], ".": [0, 0, 0, 0, 2], ",": [0, 0, 0, 2, 4], "-": [0, 0, 7, 0, 0], "+": [0, 2, 7, 2, 0],
        ":": [0, 2, 0, 2, 0], "/": [1, 1, 2, 4, 4], "(": [2, 4, 4, 4, 2], ")": [2, 1, 1, 1, 2], "%": [5, 1, 2, 4, 5],
        "=": [0, 7, 0, 7, 0], "_": [0, 0, 0, 0, 7], "^": [2, 5, 0, 0, 0], " ": [0, 0, 0, 0, 0],
    ]
}
