/// A symmetric linear map A on ℝᴺ that the solvers can apply, without knowing what A is.
///
/// Vectors may be distributed: each process holds the entries ``VectorSpace/local`` of the
/// global vector, and inner products go through ``space`` so that the same Lanczos code serves
/// replicated parameter-space vectors and sample-sharded vectors.
public protocol LinearOperator: AnyObject {
    /// How this operator's vectors are laid out and reduced.
    var space: VectorSpace { get }
    /// y ← A x for the locally held parts of x and y (both of length `space.localDimension`).
    /// Writes into caller-owned memory and allocates nothing on the hot path.
    func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>)
    /// The unit roundoff of the arithmetic inside `apply` (ε of Float64 by default; ε of Float32
    /// for networks run in Float32): no residual can be trusted below about ε·‖A‖.
    var unitRoundoff: Double { get }
}

extension LinearOperator {
    public var unitRoundoff: Double { Double.ulpOfOne }

    /// N, the global dimension.
    public var dimension: Int { space.dimension }

    /// A x for a whole local vector (convenience for tests and small problems).
    public func apply(_ x: [Double]) -> [Double] {
        var y = [Double](repeating: 0, count: space.localDimension)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { apply(xp.baseAddress!, into: $0.baseAddress!) } }
        return y
    }
}

/// The layout of an operator's vectors: their global dimension, which global entries this
/// process holds, and whether partial inner products must be summed over processes.
public struct VectorSpace {
    /// N.
    public let dimension: Int
    /// The global indices of the entries held here.
    public let local: Range<Int>
    /// Present when each process holds a different block (sum partial inner products);
    /// nil when every process holds the whole vector.
    public let communicator: (any Communicator)?

    public var localDimension: Int { local.count }

    /// A space whose vectors every process holds whole.
    public static func replicated(_ dimension: Int) -> VectorSpace {
        VectorSpace(dimension: dimension, local: 0..<dimension, communicator: nil)
    }

    public init(dimension: Int, local: Range<Int>, communicator: (any Communicator)?) {
        self.dimension = dimension
        self.local = local
        self.communicator = communicator
    }

    /// Sums partial inner products over the processes (no-op for replicated vectors).
    public func reduce(_ values: UnsafeMutableBufferPointer<Double>) {
        communicator?.allreduceSum(values)
    }

    /// ⟨x, y⟩ over the global vectors.
    public func dot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>) -> Double {
        let partial = Double.dot(n: localDimension, x: x, y: y)
        return communicator.map { $0.sum(partial) } ?? partial
    }
}
