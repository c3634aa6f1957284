#if WISP_MPICH
import CScaLAPACKMPICH
#else
import CScaLAPACK
#endif
import Wisp

/// The BLACS and ScaLAPACK calls of ``ScaLAPACKEigensolver``: the only Swift file that sees
/// their C types. Every `info` is checked and becomes a ``WispError`` naming the routine.
enum ScaLAPACK {
    /// A BLACS process grid of `rows` × `columns` processes over MPI_COMM_WORLD, in row-major
    /// order: MPI rank r sits at (r / columns, r mod columns). Collective to create and release.
    final class Grid {
        let rows: Int, columns: Int, row: Int, column: Int
        fileprivate let context: Int32

        /// What Cblacs_gridinfo reported, for ``check(rank:)``.
        private let reported: (rows: Int32, columns: Int32)

        init(rows: Int, columns: Int) {
            var system: Int32 = 0
            Cblacs_get(0, 0, &system)   // what = 0: the system context (MPI_COMM_WORLD)
            var context = system
            Cblacs_gridinit(&context, "Row", Int32(rows), Int32(columns))
            var r: Int32 = -1, c: Int32 = -1, myRow: Int32 = -1, myColumn: Int32 = -1
            Cblacs_gridinfo(context, &r, &c, &myRow, &myColumn)
            self.context = context
            self.rows = rows
            self.columns = columns
            reported = (r, c)
            row = Int(myRow)
            column = Int(myColumn)
        }

        /// Throws unless BLACS placed MPI rank `rank` at (rank / columns, rank mod columns) of
        /// the grid asked for (a local check: call it inside an agreement).
        func check(rank: Int) throws {
            guard reported == (Int32(rows), Int32(columns)), row == rank / columns, column == rank % columns else {
                throw WispError.numerical("BLACS grid \(rows) × \(columns): process \(rank) got position (\(row), \(column)) of a \(reported.rows) × \(reported.columns) grid")
            }
        }

        /// Cblacs_gridexit (collective).
        func release() { Cblacs_gridexit(context) }
    }

    /// The descriptor of an n × n matrix in `block` × `block` blocks on `grid`, first block on
    /// process (0, 0), local arrays column-major with leading dimension max(1, localRows).
    static func descriptor(n: Int, block: Int, grid: Grid, localRows: Int) throws -> [Int32] {
        var d = [Int32](repeating: 0, count: 9)
        var n32 = Int32(n), nb = Int32(block), zero: Int32 = 0, ctx = grid.context, lld = Int32(max(1, localRows))
        var info: Int32 = 0
        descinit_(&d, &n32, &n32, &nb, &nb, &zero, &zero, &ctx, &lld, &info)
        guard info == 0 else { throw WispError.numerical("ScaLAPACK descinit failed (info \(info)) for n = \(n), block \(block), leading dimension \(lld)") }
        return d
    }

    /// The local count of n indices in blocks of `block` dealt round-robin over `processes`,
    /// first block on process 0 (ScaLAPACK's numroc).
    static func localCount(_ n: Int, block: Int, process: Int, processes: Int) -> Int {
        var n32 = Int32(n), nb = Int32(block), p = Int32(process), zero: Int32 = 0, np = Int32(processes)
        return Int(numroc_(&n32, &nb, &p, &zero, &np))
    }

    /// All eigenvalues (ascending) and eigenvectors of the n × n symmetric matrix `a`
    /// (its lower triangle is read and destroyed) by pdsyevd (Tisseur & Dongarra's parallel
    /// divide and conquer); the eigenvectors go to `z` (same descriptor). Returns the
    /// eigenvalues on every process and the workspace bytes allocated here.
    ///
    /// The workspace is the query's plus ``pdsyevdWorkspaceMargin(block:localRows:localColumns:)``:
    /// pdsyevd's own minimum does not cover its final PDORMTR when n is below about nb (n < nb
    /// gives NP·NQ < nb²), and pdsyevd ignores PDORMTR's error code, so without the margin the
    /// back-transformation is silently skipped (ScaLAPACK 2.2.1: residuals ≈ ‖A‖ at n = 13, nb = 64).
    static func pdsyevd(n: Int, a: inout [Double], z: inout [Double], descriptor: [Int32], block: Int, localRows: Int, localColumns: Int)
        throws -> (values: [Double], workspaceBytes: Int)
    {
        var n32 = Int32(n), one: Int32 = 1, info: Int32 = 0
        var w = [Double](repeating: 0, count: n)
        var query = [Double](repeating: 0, count: 1), iquery = [Int32](repeating: 0, count: 1)
        var lwork: Int32 = -1, liwork: Int32 = 1
        var desc = descriptor
        pdsyevd_("V", "L", &n32, &a, &one, &one, &desc, &w, &z, &one, &one, &desc, &query, &lwork, &iquery, &liwork, &info, 1, 1)
        guard info == 0 else { throw WispError.numerical("ScaLAPACK pdsyevd workspace query failed (info \(info)) for n = \(n)") }
        let margin = Double(pdsyevdWorkspaceMargin(block: block, localRows: localRows, localColumns: localColumns))
        let lw = try workspaceCount(query[0] + margin, "pdsyevd"), liw = max(Int(iquery[0]), 1)
        var work = [Double](repeating: 0, count: lw), iwork = [Int32](repeating: 0, count: liw)
        lwork = Int32(lw)
        liwork = Int32(liw)
        pdsyevd_("V", "L", &n32, &a, &one, &one, &desc, &w, &z, &one, &one, &desc, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        guard info == 0 else { throw failure("pdsyevd", info, n) }
        return (w, lw * 8 + liw * 4)
    }

    /// The eigenvalues with ascending 0-based indices `indices` (all when nil) and, if
    /// `vectors`, their eigenvectors (the first indices.count columns of `z`) of the n × n
    /// symmetric matrix `a` (lower triangle, destroyed) by pdsyevr (MRRR; Vömel, "ScaLAPACK's
    /// MRRR algorithm", ACM TOMS 37 (2010)). `z` is unused without vectors.
    /// The same PDORMTR margin as pdsyevd's is added with vectors: pdsyevr's own size misses it
    /// for a few vectors (ScaLAPACK 2.2.1, n = 65, nb = 64, two vectors: PDORMTR rejects its
    /// workspace and pdsyevr returns the tridiagonal matrix's eigenvectors with info 0).
    static func pdsyevr(n: Int, a: inout [Double], z: inout [Double], descriptor: [Int32], indices: Range<Int>?, vectors: Bool,
                        block: Int, localRows: Int, localColumns: Int)
        throws -> (values: [Double], workspaceBytes: Int)
    {
        var n32 = Int32(n), one: Int32 = 1, info: Int32 = 0
        var il = Int32((indices?.lowerBound ?? 0) + 1), iu = Int32(indices?.upperBound ?? n)
        var vl = 0.0, vu = 0.0, found: Int32 = 0, columns: Int32 = 0
        var w = [Double](repeating: 0, count: n)
        var query = [Double](repeating: 0, count: 3), iquery = [Int32](repeating: 0, count: 1)
        var lwork: Int32 = -1, liwork: Int32 = -1
        var desc = descriptor
        let jobz = vectors ? "V" : "N", range = indices == nil ? "A" : "I"
        if z.isEmpty { z = [0] }   // not referenced without vectors, but passed as an address
        pdsyevr_(jobz, range, "L", &n32, &a, &one, &one, &desc, &vl, &vu, &il, &iu, &found, &columns, &w, &z, &one, &one, &desc,
                 &query, &lwork, &iquery, &liwork, &info, 1, 1, 1)
        guard info == 0 else { throw WispError.numerical("ScaLAPACK pdsyevr workspace query failed (info \(info)) for n = \(n)") }
        // Not the query's "optimal" size: with it, PDSYNTRD copies A to a ⌊√p⌋ × ⌊√p⌋ grid
        // inside the workspace (n² on ONE process when p < 4, plus PDTRMR2D's buffers). The
        // documented minimum keeps the reduction in place on the caller's grid.
        let margin = vectors ? pdsyevdWorkspaceMargin(block: block, localRows: localRows, localColumns: localColumns) : 0
        let minimum = pdsyevrMinimumWorkspace(n: n, block: block, grid: descriptor, vectors: vectors, count: Int(iu - il + 1))
        _ = try workspaceCount(query[0], "pdsyevr")
        let lw = max(try workspaceCount(Double(minimum + margin), "pdsyevr"), 3), liw = max(Int(iquery[0]), 1)
        var work = [Double](repeating: 0, count: lw), iwork = [Int32](repeating: 0, count: liw)
        lwork = Int32(lw)
        liwork = Int32(liw)
        pdsyevr_(jobz, range, "L", &n32, &a, &one, &one, &desc, &vl, &vu, &il, &iu, &found, &columns, &w, &z, &one, &one, &desc,
                 &work, &lwork, &iwork, &liwork, &info, 1, 1, 1)
        guard info == 0 else { throw failure("pdsyevr", info, n) }
        let expected = Int(iu - il + 1)
        guard Int(found) == expected, !vectors || Int(columns) == expected else {
            throw WispError.numerical("ScaLAPACK pdsyevr returned \(found) eigenvalues and \(columns) vectors of the \(expected) asked for (n = \(n))")
        }
        return (Array(w.prefix(expected)), lw * 8 + liw * 4)
    }

    /// The workspace of PDORMTR (PDORMQL/PDORMQR, side 'L': max(nb(nb − 1)/2, (NQ + NP + 2nb)·nb)
    /// + nb², from their headers, with NP and NQ rounded up by a block for the offset
    /// submatrix), added to pdsyevd's so that the back-transformation always has it.
    static func pdsyevdWorkspaceMargin(block nb: Int, localRows: Int, localColumns: Int) -> Int {
        max(nb * (nb - 1) / 2, (localColumns + localRows + 2 * nb) * nb) + nb * nb
    }

    /// pdsyevr's documented minimum LWORK (its header, ScaLAPACK 2.2): with vectors
    /// 2 + 5n + max(18·NN, NP0·MQ0 + 2nb²) + (2 + ⌈k/p⌉)·NN, without 2 + 5n + max(12·NN, nb·(NP0 + 1)),
    /// NN = max(n, nb, 2), NP0 = numroc(NN, nb, 0, 0, pr), MQ0 = numroc(max(k, nb, 2), nb, 0, 0, pc).
    static func pdsyevrMinimumWorkspace(n: Int, block nb: Int, grid descriptor: [Int32], vectors: Bool, count k: Int) -> Int {
        var r: Int32 = 0, c: Int32 = 0, myRow: Int32 = 0, myColumn: Int32 = 0
        Cblacs_gridinfo(descriptor[1], &r, &c, &myRow, &myColumn)
        let pr = Int(r), pc = Int(c)
        let nn = max(n, nb, 2)
        let np0 = localCount(nn, block: nb, process: 0, processes: pr)
        if vectors {
            let mq0 = localCount(max(k, nb, 2), block: nb, process: 0, processes: pc)
            return 2 + 5 * n + max(18 * nn, np0 * mq0 + 2 * nb * nb) + (2 + (k + pr * pc - 1) / (pr * pc)) * nn
        }
        return 2 + 5 * n + max(12 * nn, nb * (np0 + 1))
    }

    private static func workspaceCount(_ value: Double, _ routine: String) throws -> Int {
        guard value.isFinite, value >= 0, value < Double(Int32.max) else {
            throw WispError.invalidConfiguration("ScaLAPACK \(routine) needs a workspace of \(value) doubles per process, beyond its 32-bit counts: use more processes")
        }
        return max(Int(value.rounded(.up)), 1)
    }

    private static func failure(_ routine: String, _ info: Int32, _ n: Int) -> WispError {
        info < 0
            ? .numerical("ScaLAPACK \(routine): argument \(-info) had an illegal value (info \(info), n = \(n))")
            : .numerical("ScaLAPACK \(routine) did not converge (info \(info)) on a symmetric matrix of size \(n)")
    }
}
