/// The shape of one sample as a layer sees it: `[features]` for dense layers, `[channels,
/// height, width]` for image layers. A batch of n samples is stored row-major, n × `count`
/// (sample-major; an image sample is channel-major, then row, then column, as in PyTorch's
/// NCHW tensors).
public struct TensorShape: Hashable, Codable, Sendable, CustomStringConvertible {
    /// The extents, outermost first.
    public let dimensions: [Int]

    public init(_ dimensions: [Int]) { self.dimensions = dimensions }

    /// A flat sample of `n` features.
    public static func features(_ n: Int) -> TensorShape { TensorShape([n]) }
    /// An image sample of `channels` planes of height × width.
    public static func image(channels: Int, height: Int, width: Int) -> TensorShape {
        TensorShape([channels, height, width])
    }

    /// Scalars per sample.
    public var count: Int { dimensions.reduce(1, *) }
    /// Whether this is a `[channels, height, width]` shape.
    public var isImage: Bool { dimensions.count == 3 }
    /// Whether this is a `[features]` shape.
    public var isFlat: Bool { dimensions.count == 1 }
    public var channels: Int { dimensions[0] }
    public var height: Int { dimensions[1] }
    public var width: Int { dimensions[2] }

    /// Every extent is at least 1 and the sample has fewer than 2⁴⁰ scalars (so that every
    /// count derived from it fits an Int).
    public var isValid: Bool {
        !dimensions.isEmpty && dimensions.allSatisfy { $0 >= 1 } && dimensions.reduce(1.0) { $0 * Double($1) } < Self.maximumCount
    }

    /// The largest size of a sample or of a layer's parameters the layers accept: 2⁴⁰.
    static let maximumCount = 0x1p40

    /// Throws, naming `what`, unless the product of `factors` is below ``maximumCount``.
    static func checkSize(_ what: String, _ factors: Int...) throws {
        let p = factors.reduce(1.0) { $0 * Double($1) }
        guard p < maximumCount else { throw WispError.invalidConfiguration("\(what) is too large (\(factors.map(String.init).joined(separator: " × ")))") }
    }

    public var description: String { "[" + dimensions.map(String.init).joined(separator: ", ") + "]" }
}
