/// C A C for a symmetric operator A on sample space, with C = I − (1/N) 1 1ᵀ the centering
/// matrix over all N entries (Lou et al. eq. 6: K_c = C K C). C x subtracts the global mean
/// of x: one sum over processes per centering, two per application, besides A's own cost.
public final class CenteredOperator: LinearOperator {
    public let base: any LinearOperator
    private var centered: [Double]

    public init(_ base: any LinearOperator) {
        self.base = base
        centered = [Double](repeating: 0, count: max(base.space.localDimension, 1))
    }

    public var space: VectorSpace { base.space }
    public var unitRoundoff: Double { base.unitRoundoff }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let n = space.localDimension
        centered.withUnsafeMutableBufferPointer { c in
            c.baseAddress!.update(from: x, count: n)
            Self.center(c.baseAddress!, space: space)
            base.apply(c.baseAddress!, into: y)
        }
        Self.center(y, space: space)
    }

    /// x ← C x = x − mean(x) 1, the mean over the whole (distributed) vector.
    public static func center(_ x: UnsafeMutablePointer<Double>, space: VectorSpace) {
        let n = space.localDimension
        var sum = 0.0
        for i in 0..<n { sum += x[i] }
        if let c = space.communicator { sum = c.sum(sum) }
        let mean = sum / Double(space.dimension)
        for i in 0..<n { x[i] -= mean }
    }
}
