import Foundation
import Wisp

/// A ``SymmetricEigensolver`` for an n × n symmetric matrix too large for one process: the row
/// blocks are redistributed (one MPI_Alltoallv) into ScaLAPACK's 2-D block-cyclic layout on a
/// near-square pr × pc grid of all p processes (pr the largest divisor of p with pr ≤ √p), and
///
/// - `.all` with vectors: `pdsyevd` (Tisseur & Dongarra, SIAM J. Sci. Comput. 20 (1999) 2223,
///   parallel divide and conquer; pdsyevd has no eigenvalues-only mode);
/// - `.all` without vectors, and `.indices(r)`: `pdsyevr` (MRRR, Vömel, ACM TOMS 37 (2010) 1),
///   which computes only the selected pairs.
///
/// The lower triangle of A is read (A[i][j], i ≥ j, i.e. each row's entries left of and on the
/// diagonal). Eigenvalues come back on every process; eigenvector rows go back to each
/// process's own row block (a second Alltoallv), each eigenvector signed so that its
/// largest-magnitude entry (the first, in global index order, among equals) is positive — the
/// sign rule of every eigenvector Wisp writes, so that 1 and p processes agree.
///
/// Cost: the tridiagonal reduction (4/3)n³ flops, plus for vectors the back-transformation 2n³
/// and the divide-and-conquer merges ≈ (4/3)n³ (pdsyevd, total ≈ (14/3)n³ for all pairs), over p
/// processes; see bench/README.md "Distributed dense eigensolver" for the model and its
/// sources. Communication: the two Alltoallv move n²/p (and n·m/p) doubles per process.
/// Memory per process: see ``bytesPerProcess(dimension:vectors:processes:)`` — with vectors
/// ≈ 4n²/p doubles (A, Z and pdsyevd's 2·n²/p workspace), without ≈ 2n²/p; never n².
///
/// Every process of MPI_COMM_WORLD takes part (BLACS's system context), so the
/// ``MPICommunicator`` must be the world communicator.
public struct ScaLAPACKEigensolver: SymmetricEigensolver {
    public let communicator: MPICommunicator
    /// The square block size nb of the block-cyclic layout (ScaLAPACK's MB = NB).
    public let blockSize: Int

    /// Block size 64: ScaLAPACK's usual choice; the level-3 BLAS panels of the reduction run at
    /// nb × nb, and the measured times in bench/README.md were taken with it.
    public init(communicator: MPICommunicator, blockSize: Int = 64) throws {
        guard blockSize >= 1 else { throw WispError.invalidConfiguration("block size must be at least 1 (got \(blockSize))") }
        self.communicator = communicator
        self.blockSize = blockSize
    }

    /// The process grid for p processes: pr × pc = p with pr the largest divisor of p that is
    /// at most √p (so pr ≤ pc; a prime p gives 1 × p).
    public static func grid(processes p: Int) -> (rows: Int, columns: Int) {
        precondition(p >= 1)
        var r = Int(Double(p).squareRoot())
        while (r + 1) * (r + 1) <= p { r += 1 }
        while r * r > p { r -= 1 }
        while p % r != 0 { r -= 1 }
        return (r, p / r)
    }

    /// The block size used for an n × n matrix on a pr × pc grid: ``blockSize``, reduced to
    /// ⌈n / max(pr, pc)⌉ when n is too small to give every process row and column a block.
    /// pdsyevd (ScaLAPACK 2.2.1) returns wrong eigenvectors with info 0 when the whole matrix
    /// is one block on more than one process (n ≤ nb, p > 1: residuals ≈ ‖A‖ at n = 5, nb = 64
    /// on 3 processes); the reduced block avoids that case, and small matrices are then spread
    /// over the whole grid.
    public func effectiveBlockSize(dimension n: Int, processes p: Int) -> Int {
        Self.effectiveBlockSize(dimension: n, processes: p, blockSize: blockSize)
    }

    static func effectiveBlockSize(dimension n: Int, processes p: Int, blockSize: Int) -> Int {
        let (pr, pc) = Self.grid(processes: p)
        return max(1, min(blockSize, (n + max(pr, pc) - 1) / max(pr, pc)))
    }

    public func solve(rows: inout [Double], local: Range<Int>, dimension n: Int, selection: EigenSelection,
                      vectors: Bool) throws -> DistributedEigenpairs
    {
        let p = communicator.size, rank = communicator.rank
        let count = rows.count
        try communicator.agree {
            guard n >= 0 else { throw WispError.invalidConfiguration("matrix dimension must be non-negative (got \(n))") }
            guard local.lowerBound >= 0, local.upperBound <= n else {
                throw WispError.invalidConfiguration("rows \(local.lowerBound)..<\(local.upperBound) of process \(rank) lie outside the \(n) rows of the matrix")
            }
            guard count == local.count * n else {
                throw WispError.badInput("process \(rank) holds \(count) values for its \(local.count) rows of an \(n) × \(n) matrix (expected \(local.count * n))")
            }
            if case .indices(let r) = selection, r.lowerBound < 0 || r.upperBound > n {
                throw WispError.invalidConfiguration("eigenvalue indices \(r.lowerBound)..<\(r.upperBound) outside 0..<\(n)")
            }
            // ScaLAPACK's counts (LWORK ≈ 2·NP·NQ, descriptors) and MPI's are 32-bit ints; the
            // largest local block is process (0, 0)'s, the same number on every process.
            let (pr, pc) = Self.grid(processes: p)
            let nb = effectiveBlockSize(dimension: n, processes: p)
            let largest = BlockCyclicLayout(n: n, block: nb, processes: pr).count(0) * BlockCyclicLayout(n: n, block: nb, processes: pc).count(0)
            guard 2 * largest + 8 * n < Int(Int32.max), count < Int(Int32.max) else {
                throw WispError.invalidConfiguration("an \(n) × \(n) matrix on \(p) processes exceeds ScaLAPACK's and MPI's 32-bit counts (\(largest) local entries, 2³¹ at most with workspace): use more processes")
            }
        }
        // Every process's rows, so each knows what it sends and receives (one small allgather).
        let bounds = communicator.allgather([Double(local.lowerBound), Double(local.upperBound)], counts: Array(repeating: 2, count: p))
        let ranges = (0..<p).map { Int(bounds[2 * $0])..<Int(bounds[2 * $0 + 1]) }
        var next = 0
        for (r, range) in ranges.enumerated() {
            guard range.lowerBound == next else {
                throw WispError.invalidConfiguration("the row blocks do not tile 0..<\(n): process \(r) holds rows \(range.lowerBound)..<\(range.upperBound), expected them to start at \(next)")
            }
            next = range.upperBound
        }
        guard next == n else { throw WispError.invalidConfiguration("the row blocks cover \(next) of the \(n) rows") }

        let selected: Range<Int>? = if case .indices(let r) = selection { r } else { nil }
        let m = selected?.count ?? n
        let (pr, pc) = Self.grid(processes: p)
        let driver = vectors && selected == nil ? "pdsyevd" : "pdsyevr"
        let nb = effectiveBlockSize(dimension: n, processes: p)
        // Rank-independent text (the grid and block depend on the process count).
        let method = "ScaLAPACK \(driver) (2-D block-cyclic on a near-square process grid)"
        if n == 0 || m == 0 {
            rows = []
            return DistributedEigenpairs(values: [], vectorRows: [], method: method)
        }

        let grid = ScaLAPACK.Grid(rows: pr, columns: pc)
        defer { grid.release() }
        try communicator.agree { try grid.check(rank: rank) }
        let layout = Layout(n: n, block: nb, grid: (pr, pc), position: (grid.row, grid.column), ranges: ranges)
        let descriptor = try ScaLAPACK.descriptor(n: n, block: nb, grid: grid, localRows: layout.localRows)

        // pdsyevr gives its back-transformation (PDORMTR) a fixed workspace that is too small
        // when fewer than nb vectors are asked for (ScaLAPACK 2.2.1: PDORMTR rejects it, and
        // pdsyevr returns the tridiagonal matrix's eigenvectors with info 0). With at least nb
        // columns the workspace suffices (NP·NQ + 2nb² ≥ (NP + NQ)·nb + nb² once NP, NQ ≥ nb), so
        // a short index range is widened to nb pairs and the extra ones dropped (cost O(n²·nb)).
        var asked = selected, wanted = 0..<m
        if vectors, let r = selected, r.count < nb {
            let upper = min(n, max(r.upperBound, nb)), lower = upper - nb
            asked = lower..<upper
            wanted = (r.lowerBound - lower)..<(r.upperBound - lower)
        }
        var a = layout.toBlockCyclic(&rows, local: local, communicator: communicator)
        var z = vectors ? [Double](repeating: 0, count: max(layout.localRows * layout.localColumns, 1)) : []
        let values: [Double]
        if driver == "pdsyevd" {
            values = try ScaLAPACK.pdsyevd(n: n, a: &a, z: &z, descriptor: descriptor, block: nb,
                                           localRows: layout.localRows, localColumns: layout.localColumns).values
        } else {
            let computed = try ScaLAPACK.pdsyevr(n: n, a: &a, z: &z, descriptor: descriptor, indices: asked, vectors: vectors,
                                                 block: nb, localRows: layout.localRows, localColumns: layout.localColumns).values
            values = Array(computed[wanted])
        }
        a = []
        guard values.allSatisfy(\.isFinite) else {
            throw WispError.nonFinite("ScaLAPACK \(driver) returned non-finite eigenvalues for the \(n) × \(n) matrix (is it finite?)")
        }
        guard vectors else { return DistributedEigenpairs(values: values, vectorRows: [], method: method) }
        var vectorRows = layout.toRowBlocks(&z, columns: wanted, local: local, communicator: communicator)
        try normalizeSigns(&vectorRows, rows: local.count, columns: m)
        return DistributedEigenpairs(values: values, vectorRows: vectorRows, method: method)
    }

    /// Flips each column of the row-distributed `v` (rows × columns here) so that its
    /// largest-magnitude entry is positive; among equal magnitudes the first in global row
    /// order decides. Cost: O(rows · columns) and one allgather of p · columns doubles.
    private func normalizeSigns(_ v: inout [Double], rows: Int, columns: Int) throws {
        var best = [Double](repeating: 0, count: columns)
        for i in 0..<rows {
            for j in 0..<columns where abs(v[i * columns + j]) > abs(best[j]) { best[j] = v[i * columns + j] }
        }
        let all = communicator.allgather(best, counts: Array(repeating: columns, count: communicator.size))
        for j in 0..<columns {
            var winner = 0.0
            for r in 0..<communicator.size where abs(all[r * columns + j]) > abs(winner) { winner = all[r * columns + j] }
            guard winner.isFinite, winner != 0 else {
                throw WispError.nonFinite("ScaLAPACK returned a zero or non-finite eigenvector (column \(j))")
            }
            if winner < 0 { for i in 0..<rows { v[i * columns + j] = -v[i * columns + j] } }
        }
    }

    /// Bytes this solver allocates per process for an n × n problem, beyond the caller's row
    /// block (released here, when uniquely referenced, as soon as it is packed for sending) and
    /// including the returned eigenvector rows. Process (0, 0) holds the most: NP = numroc(n,
    /// nb, 0, pr) rows and NQ = numroc(n, nb, 0, pc) columns of A. Peak over the phases:
    ///
    /// - redistribution: send buffer, receive buffer and A, at most two at a time;
    /// - with vectors, the larger of pdsyevd (A, Z, and LWORK = max(1 + 6n + 2·NP·NQ,
    ///   3n + max(nb(NP + 1), 3nb)) + 2n doubles plus the O(n·nb) margin its PDORMTR needs,
    ///   LIWORK = 7n + 8pc + 2 ints) and pdsyevr for all
    ///   pairs (A, Z, LWORK = 5n + 2 + max(18n, NP·NQ + 2nb²) + (⌈n/p⌉ + 2)n, LIWORK =
    ///   12·max(n, p + 1, 4) + 2n) — ≈ 4n²/p doubles;
    /// - without vectors, pdsyevr (A and LWORK = 2 + 5n + max(12n, nb(NP + 1)): n²/p + O(n·nb)),
    ///   so the redistribution's two buffers (≈ 2n²/p) are the peak;
    /// - the return of the vectors: Z, send and receive buffers and the rows, two or three at a time.
    ///
    /// These are the documented workspace formulas of ScaLAPACK 2.2 (the routines' headers);
    /// pdsyevd gets what its query returns (its minimum), pdsyevr its documented minimum rather
    /// than the query's "optimal" size (see ``ScaLAPACK/pdsyevr``).
    public func bytesPerProcess(dimension n: Int, vectors: Bool, processes p: Int) -> Double {
        Self.bytesPerProcess(dimension: n, vectors: vectors, processes: p, blockSize: blockSize)
    }

    /// ``bytesPerProcess(dimension:vectors:processes:)`` for a given block size (no MPI needed).
    public static func bytesPerProcess(dimension n: Int, vectors: Bool, processes p: Int, blockSize: Int = 64) -> Double {
        guard n > 0, p >= 1 else { return 0 }
        let (pr, pc) = Self.grid(processes: p)
        let nb = effectiveBlockSize(dimension: n, processes: p, blockSize: blockSize)
        let np = Double(BlockCyclicLayout(n: n, block: nb, processes: pr).count(0))
        let nq = Double(BlockCyclicLayout(n: n, block: nb, processes: pc).count(0))
        let N = Double(n), B = Double(nb), local = np * nq
        let rowBlock = (N / Double(p)).rounded(.up) * N
        let redistribution = max(rowBlock + rowBlock, rowBlock + local, 2 * local)
        let solve: Double
        if vectors {
            let margin = Double(ScaLAPACK.pdsyevdWorkspaceMargin(block: nb, localRows: Int(np), localColumns: Int(nq)))
            let evd = 2 * local + max(1 + 6 * N + 2 * local, 3 * N + max(B * (np + 1), 3 * B)) + 2 * N + margin + (7 * N + 8 * Double(pc) + 2) / 2
            let lwmin = 5 * N + 2 + max(18 * N, local + 2 * B * B) + ((N / Double(p)).rounded(.up) + 2) * N
            let evr = 2 * local + lwmin + margin + (12 * max(N, Double(p + 1), 4) + 2 * N) / 2
            solve = max(evd, evr) + N
        } else {
            solve = local + 2 + 5 * N + max(12 * N, B * (np + 1)) + (10 * max(N, Double(p + 1), 4) + 2 * N) / 2 + N
        }
        let back = vectors ? max(local + local, local + local + rowBlock, 2 * rowBlock) : 0
        return 8 * max(redistribution, solve, back)
    }
}

/// The two layouts of one solve and the moves between them: rows in contiguous blocks
/// (`ranges[r]` on process r, row-major) and ScaLAPACK's 2-D block-cyclic layout (process
/// (i, j) of the pr × pc grid, MPI rank i·pc + j, holds the rows of `rowLayout` owned by i and
/// the columns of `columnLayout` owned by j, column-major with leading dimension max(1, NP)).
private struct Layout {
    let n: Int
    let rowLayout: BlockCyclicLayout, columnLayout: BlockCyclicLayout
    let gridColumns: Int
    let position: (row: Int, column: Int)
    let ranges: [Range<Int>]
    let localRows: Int, localColumns: Int
    /// The global columns of each process column, ascending.
    let columnsOf: [[Int]]

    init(n: Int, block: Int, grid: (rows: Int, columns: Int), position: (row: Int, column: Int), ranges: [Range<Int>]) {
        self.n = n
        rowLayout = BlockCyclicLayout(n: n, block: block, processes: grid.rows)
        columnLayout = BlockCyclicLayout(n: n, block: block, processes: grid.columns)
        gridColumns = grid.columns
        self.position = position
        self.ranges = ranges
        localRows = rowLayout.count(position.row)
        localColumns = columnLayout.count(position.column)
        let columns = columnLayout
        columnsOf = (0..<grid.columns).map { columns.indices(of: $0) }
    }

    var leadingDimension: Int { max(1, localRows) }

    /// The rows of `range` owned by grid row `gridRow`, ascending.
    private func owned(_ range: Range<Int>, byGridRow gridRow: Int) -> [Int] {
        range.filter { rowLayout.owner($0) == gridRow }
    }

    /// Row blocks → block-cyclic A (local NP × NQ, column-major). Sender order: destination by
    /// rank, then the sender's rows ascending, then the destination's columns ascending; the
    /// receiver walks the same order per source. `rows` is emptied once packed.
    func toBlockCyclic(_ rows: inout [Double], local: Range<Int>, communicator: MPICommunicator) -> [Double] {
        let p = communicator.size
        var sendCounts = [Int](repeating: 0, count: p), receiveCounts = [Int](repeating: 0, count: p)
        let myRowsByGridRow = (0..<(p / gridColumns)).map { owned(local, byGridRow: $0) }
        for d in 0..<p { sendCounts[d] = myRowsByGridRow[d / gridColumns].count * columnsOf[d % gridColumns].count }
        let incoming = ranges.map { owned($0, byGridRow: position.row) }
        for s in 0..<p { receiveCounts[s] = incoming[s].count * localColumns }

        var send = [Double](repeating: 0, count: sendCounts.reduce(0, +))
        send.withUnsafeMutableBufferPointer { out in
            rows.withUnsafeBufferPointer { a in
                var k = 0
                for d in 0..<p {
                    let columns = columnsOf[d % gridColumns]
                    for i in myRowsByGridRow[d / gridColumns] {
                        let row = a.baseAddress! + (i - local.lowerBound) * n
                        for j in columns { out[k] = row[j]; k += 1 }
                    }
                }
            }
        }
        rows = []
        let received = communicator.alltoallv(send, sendCounts: sendCounts, receiveCounts: receiveCounts)
        send = []
        let ld = leadingDimension
        var a = [Double](repeating: 0, count: max(ld * localColumns, 1))
        a.withUnsafeMutableBufferPointer { a in
            received.withUnsafeBufferPointer { r in
                var k = 0
                for s in 0..<p {
                    for i in incoming[s] {
                        let li = rowLayout.localIndex(i)
                        for lj in 0..<localColumns { a[li + lj * ld] = r[k]; k += 1 }
                    }
                }
            }
        }
        return a
    }

    /// The columns `wanted` of block-cyclic Z → this process's rows (local.count ×
    /// wanted.count, row-major; column j of the result is Z's column wanted.lowerBound + j).
    /// `z` is emptied once packed.
    func toRowBlocks(_ z: inout [Double], columns wanted: Range<Int>, local: Range<Int>, communicator: MPICommunicator) -> [Double] {
        let p = communicator.size, m = wanted.count
        // This process's local columns in `wanted`: a contiguous run of local indices.
        let mine = columnsOf[position.column]
        let firstLocal = mine.firstIndex { $0 >= wanted.lowerBound } ?? mine.count
        let myColumns = mine[firstLocal...].prefix { $0 < wanted.upperBound }.count
        let outgoing = ranges.map { owned($0, byGridRow: position.row) }
        let sendCounts = (0..<p).map { outgoing[$0].count * myColumns }
        let myRowsByGridRow = (0..<(p / gridColumns)).map { owned(local, byGridRow: $0) }
        let columnsFrom = columnsOf.map { $0.filter { wanted.contains($0) }.map { $0 - wanted.lowerBound } }
        let receiveCounts = (0..<p).map { myRowsByGridRow[$0 / gridColumns].count * columnsFrom[$0 % gridColumns].count }

        let ld = leadingDimension
        var send = [Double](repeating: 0, count: sendCounts.reduce(0, +))
        send.withUnsafeMutableBufferPointer { out in
            z.withUnsafeBufferPointer { zp in
                var k = 0
                for s in 0..<p {
                    for i in outgoing[s] {
                        let li = rowLayout.localIndex(i)
                        for lj in firstLocal..<(firstLocal + myColumns) { out[k] = zp[li + lj * ld]; k += 1 }
                    }
                }
            }
        }
        z = []
        let received = communicator.alltoallv(send, sendCounts: sendCounts, receiveCounts: receiveCounts)
        send = []
        var result = [Double](repeating: 0, count: local.count * m)
        result.withUnsafeMutableBufferPointer { out in
            received.withUnsafeBufferPointer { r in
                var k = 0
                for d in 0..<p {
                    let columns = columnsFrom[d % gridColumns]
                    for i in myRowsByGridRow[d / gridColumns] {
                        let row = (i - local.lowerBound) * m
                        for j in columns { out[row + j] = r[k]; k += 1 }
                    }
                }
            }
        }
        return result
    }
}
