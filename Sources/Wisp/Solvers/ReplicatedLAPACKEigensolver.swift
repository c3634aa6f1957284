/// The dense symmetric eigensolver for matrices that fit on one process: the row blocks are
/// gathered (every process receives all n² entries), the lead process solves with LAPACK
/// (``LAPACK/symmetricEigen(_:n:selection:vectors:)``: `dsyevd` for all eigenvalues, `dsyevr`
/// for an index range) and broadcasts the eigenvalues and the selected eigenvectors, of which
/// each process keeps its rows. One solve, so every process reports the same bits.
///
/// Memory per process: n² doubles for the gathered matrix plus n·m for m selected vectors
/// (all processes, since the gather is an allgather). Cost: the LAPACK solve on one process
/// (≈ 4/3 n³ flops for the reduction to tridiagonal form, ≈ 4 n³ more for all vectors) and
/// moving n² + n·m doubles.
public struct ReplicatedLAPACKEigensolver: SymmetricEigensolver {
    public let communicator: any Communicator

    public init(communicator: any Communicator = SerialCommunicator()) {
        self.communicator = communicator
    }

    public func solve(rows: inout [Double], local: Range<Int>, dimension n: Int, selection: EigenSelection,
                      vectors: Bool) throws -> DistributedEigenpairs {
        precondition(rows.count == local.count * n, "rows must be local.count × n")
        let c = communicator
        let method: String
        switch selection {
        case .all: method = vectors ? "LAPACK dsyevd (all eigenpairs)" : "LAPACK dsyevd (all eigenvalues)"
        case .indices(let r): method = "LAPACK dsyevr (eigenvalues \(r.lowerBound + 1)…\(r.upperBound) of \(n)\(vectors ? ", with vectors" : ""))"
        }
        var matrix: [Double]
        if c.size == 1 {
            matrix = rows
            rows = []
        } else {
            let counts = try rowCounts(local: local, n: n)
            matrix = c.allgather(rows, counts: counts)
            rows = []
        }
        // The lead solves; an error there must reach every process (agreed phase).
        var solved: (values: [Double], vectors: [Double]) = ([], [])
        try c.agree {
            if c.rank == 0 { solved = try LAPACK.symmetricEigen(&matrix, n: n, selection: selection, vectors: vectors) }
        }
        matrix = []
        let values = c.size == 1 ? solved.values : c.broadcastFromLead(solved.values)
        guard vectors else { return DistributedEigenpairs(values: values, vectorRows: [], method: method) }
        let all = c.size == 1 ? solved.vectors : c.broadcastFromLead(solved.vectors)
        let m = values.count
        let mine = Array(all[(local.lowerBound * m)..<(local.upperBound * m)])
        return DistributedEigenpairs(values: values, vectorRows: mine, method: method)
    }

    public func bytesPerProcess(dimension n: Int, vectors: Bool, processes: Int) -> Double {
        let n2 = Double(n) * Double(n)
        // The gathered matrix, the caller's rows, and (with vectors) n × n worst case.
        return 8 * (n2 + n2 / Double(max(processes, 1)) + (vectors ? n2 : 0))
    }

    /// Every process's row count times n, checked against `local` (the caller's block must be
    /// the communicator's row partition of n).
    private func rowCounts(local: Range<Int>, n: Int) throws -> [Int] {
        var sizes = [Double](repeating: 0, count: communicator.size)
        sizes[communicator.rank] = Double(local.count)
        sizes.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        let counts = sizes.map { Int($0) * n }
        guard counts.reduce(0, +) == n * n else {
            throw WispError.invalidConfiguration("the processes' row blocks do not cover the \(n) × \(n) matrix")
        }
        return counts
    }
}
