/// A symmetric N × N matrix held as row blocks, each process its rows of the sample-space
/// blocks (the layout of ``NTKGramOperator``'s vectors): y_local = A[local rows, :] x, with x
/// gathered from all processes. For eigensolves on kernels already formed densely.
/// Cost per application: 2·rows·N flops and, on several processes, one allgather of N doubles
/// (the only allocation).
public final class DenseRowsOperator: LinearOperator {
    public let space: VectorSpace
    private let rows: [Double]
    private let counts: [Int]
    private let communicator: any Communicator

    /// `rows`: this process's rows (row-major, `space.localDimension` × N); `counts[r]`: the rows of process r.
    public init(rows: [Double], space: VectorSpace, counts: [Int], communicator: any Communicator) {
        precondition(rows.count == space.localDimension * space.dimension)
        precondition(counts.reduce(0, +) == space.dimension)
        self.rows = rows
        self.space = space
        self.counts = counts
        self.communicator = communicator
    }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let n = space.localDimension, N = space.dimension
        if communicator.size == 1 {
            Double.gemv(trans: false, m: n, n: N, alpha: 1, a: rows, lda: N, x: x, beta: 0, y: y)
            return
        }
        let all = communicator.allgather(Array(UnsafeBufferPointer(start: x, count: n)), counts: counts)
        guard n > 0 else { return }
        Double.gemv(trans: false, m: n, n: N, alpha: 1, a: rows, lda: N, x: all, beta: 0, y: y)
    }
}
