/// Which eigenpairs of an n × n symmetric matrix a dense solver returns.
public enum EigenSelection: Sendable, Equatable {
    /// All n eigenvalues.
    case all
    /// The eigenvalues with ascending (0-based) indices `range`, e.g. the top k of n are
    /// (n − k)..<n. LAPACK's `dsyevr` (and ScaLAPACK's `pdsyevr`) compute only these.
    case indices(Range<Int>)
}

/// The eigenpairs a dense symmetric solver returns for a matrix whose rows are distributed over
/// processes in contiguous blocks (``Communicator/block(of:rank:)``).
public struct DistributedEigenpairs: Sendable {
    /// The selected eigenvalues, ascending, on every process.
    public var values: [Double]
    /// This process's rows of the eigenvector matrix: local.count × values.count, row-major;
    /// column j is the (unit) eigenvector of values[j]. Empty when vectors were not asked for.
    public var vectorRows: [Double]
    /// The solver that ran, for the record (e.g. "LAPACK dsyevr", "ScaLAPACK pdsyevd on a 2 × 2 grid").
    public var method: String

    public init(values: [Double], vectorRows: [Double], method: String) {
        self.values = values
        self.vectorRows = vectorRows
        self.method = method
    }
}

/// A dense eigensolver for a symmetric matrix A (n × n) held as row blocks: process r holds rows
/// `local` = ``Communicator/block(of:rank:)`` of A, row-major (local.count × n). Collective: every
/// process calls it with its own rows. Implementations: ``ReplicatedLAPACKEigensolver`` (the rows
/// gathered, LAPACK on every process; memory n² per process) and, in `WispMPI`, a ScaLAPACK solver
/// on a 2-D block-cyclic layout (memory ≈ n²/p per process).
public protocol SymmetricEigensolver {
    /// The eigenpairs `selection` of A. `rows` is consumed (implementations may overwrite it).
    func solve(rows: inout [Double], local: Range<Int>, dimension n: Int, selection: EigenSelection,
               vectors: Bool) throws -> DistributedEigenpairs
    /// Bytes this solver needs per process for an n × n problem (for the memory check made
    /// before anything is formed).
    func bytesPerProcess(dimension n: Int, vectors: Bool, processes: Int) -> Double
}
