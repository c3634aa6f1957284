import ArgumentParser
import Wisp
import WispMPI

/// The dense eigensolver of the exact sample-space path (`--eigensolver`).
enum EigensolverChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, lapack, scalapack
}

/// `--eigensolver` of the commands with an exact path (top, density, the default job).
struct EigensolverOptions: ParsableArguments {
    @Option(help: "Dense eigensolver of the exact path: lapack (the rows of K gathered, LAPACK on one rank, n² doubles on every rank); scalapack (2-D block-cyclic over the MPI ranks, ≈ 2–4 n²/p per rank); auto: scalapack when several ranks run and K does not fit replicated in half the memory of a rank or TC ≥ 4096, else lapack.")
    var eigensolver: EigensolverChoice = .auto

    /// The solver for an n × n sample-space matrix (n = TC). Collective with several ranks (the
    /// memory reading is agreed).
    func solver(dimension n: Int) throws -> any SymmetricEigensolver {
        let communicator = Runtime.communicator
        let replicated = ReplicatedLAPACKEigensolver(communicator: communicator)
        let mpi = communicator as? MPICommunicator
        switch eigensolver {
        case .lapack: return replicated
        case .scalapack:
            guard let mpi else {
                throw ValidationError("--eigensolver scalapack needs an MPI launch (mpirun/srun); one process uses LAPACK")
            }
            return try ScaLAPACKEigensolver(communicator: mpi)
        case .auto:
            guard let mpi, mpi.size > 1 else { return replicated }
            let bytes = replicated.bytesPerProcess(dimension: n, vectors: true, processes: mpi.size)
            let fits = ResourceUsage.availableBytes().map { bytes <= 0.5 * Double($0) } ?? true
            let everyRankFits = mpi.allreduceMin(fits ? 1 : 0) == 1
            return !everyRankFits || n >= 4096 ? try ScaLAPACKEigensolver(communicator: mpi) : replicated
        }
    }
}
