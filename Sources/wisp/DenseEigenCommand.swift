import ArgumentParser
import Foundation
import Wisp
import WispMPI

/// `wisp dense-eigen`: a developer command (hidden from the help) that runs a distributed dense
/// ``SymmetricEigensolver`` on a square float64 matrix from a `.npy` file, for the tests and the
/// benchmarks of the exact sample-space path. Each process reads only its rows
/// (``Communicator/block(of:rank:)``); with `--vectors` the residuals ‖A v − λ v‖ and the
/// orthogonality max |VᵀV − I| are computed distributed, in column blocks (no process holds
/// more than its rows of A and V plus n × 256 doubles).
struct DenseEigen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dense-eigen",
        abstract: "Developer: eigenvalues of a symmetric matrix from a .npy file by ScaLAPACK or LAPACK (tests, benchmarks).",
        discussion: """
        The matrix is read by rows: process r reads the rows block(of: n, rank: r). --solver scalapack redistributes \
        them to a 2-D block-cyclic layout and runs pdsyevd (all pairs) or pdsyevr (--top, or no --vectors); it needs \
        an MPI launch (mpirun -n P wisp dense-eigen …, P ≥ 1). --solver lapack gathers the whole matrix on every \
        process and runs LAPACK dsyevd (the one-process reference). The lower triangle is used.
        """,
        shouldDisplay: false)

    @Option(help: "The symmetric matrix: a square float64 (or float32) .npy file, C order.")
    var matrix: String
    @Option(help: "scalapack (distributed, 2-D block-cyclic) or lapack (gathered, dsyevd on every process).")
    var solver: DenseSolverChoice = .scalapack
    @Option(help: "Only the k largest eigenvalues (pdsyevr with an index range; lapack computes all and keeps k).")
    var top: Int?
    @Flag(help: "Also the eigenvectors, with residuals ‖A v − λ v‖ and orthogonality.")
    var vectors = false
    @Option(name: .customLong("block-size"), help: "ScaLAPACK's block size nb.")
    var blockSize: Int = 64
    @OptionGroup var out: OutputOptions

    func run() throws {
        let started = DispatchTime.now().uptimeNanoseconds
        let communicator = Runtime.communicator
        let solver: any SymmetricEigensolver
        switch self.solver {
        case .scalapack:
            guard let mpi = communicator as? MPICommunicator else {
                throw ValidationError("--solver scalapack needs an MPI launch (mpirun -n P wisp dense-eigen …, also for P = 1)")
            }
            solver = try ScaLAPACKEigensolver(communicator: mpi, blockSize: blockSize)
        case .lapack:
            solver = ReplicatedLAPACKEigensolver(communicator: communicator)
        }
        // Header, shape, size and memory are checked on every process before any row is read.
        var (n, local, rows) = try communicator.agree { () throws -> (Int, Range<Int>, [Double]) in
            if Runtime.isLead, let path = out.output { try OutputPath.check(path, standardOutput: true, inputs: [matrix]) }
            let shape = try NPY.read(path: matrix, rows: 0..<0).shape
            guard shape.count == 2, shape[0] == shape[1] else {
                throw WispError.badInput("\(matrix): not a square matrix (shape \(shape.map(String.init).joined(separator: " × ")))")
            }
            let n = shape[0]
            if let top, !(1...max(n, 1)).contains(top) || n == 0 {
                throw ValidationError("--top must be between 1 and the matrix size \(n) (got \(top))")
            }
            let local = communicator.block(of: n)
            let needed = solver.bytesPerProcess(dimension: n, vectors: vectors, processes: communicator.size) + Double(local.count * n * 8)
            if let available = ResourceUsage.availableBytes(), needed > Double(available) {
                throw WispError.invalidConfiguration("dense-eigen of an \(n) × \(n) matrix with --solver \(self.solver.rawValue) needs \(ResourceUsage.format(bytes: Int(needed))) per process; \(ResourceUsage.format(bytes: available)) is available")
            }
            let rows = try NPY.read(path: matrix, rows: local).values
            guard rows.allSatisfy(\.isFinite) else { throw WispError.nonFinite("\(matrix): non-finite entries in rows \(local.lowerBound)..<\(local.upperBound)") }
            return (n, local, rows)
        }
        var squares = 0.0
        for x in rows { squares += x * x }
        let frobenius = communicator.sum(squares).squareRoot()
        let selection: EigenSelection = top.map { .indices((n - $0)..<n) } ?? .all
        let peakReset = resetPeakMemory()
        let solveStart = DispatchTime.now().uptimeNanoseconds
        let pairs = try solver.solve(rows: &rows, local: local, dimension: n, selection: selection, vectors: vectors)
        let solveSeconds = Double(DispatchTime.now().uptimeNanoseconds - solveStart) * 1e-9
        // The solve's own peak (the row block it was given included), when VmHWM could be reset.
        let solvePeaks = communicator.allgather([peakReset ? Double(ResourceUsage.peakResidentBytes()) : -1],
                                                counts: Array(repeating: 1, count: communicator.size))

        var check: VectorCheck?
        if vectors {
            let matrixRows = try NPY.read(path: matrix, rows: local).values
            check = VectorCheck.measure(rows: matrixRows, local: local, n: n, pairs: pairs, communicator: communicator)
        }
        let peaks = communicator.allgather([Double(ResourceUsage.peakResidentBytes())], counts: Array(repeating: 1, count: communicator.size))
        let total = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
        guard Runtime.isLead else { return }

        let result = DenseEigenResult(
            dimension: n, method: pairs.method, indices: top.map { Array((n - $0)..<n) } ?? Array(0..<n), eigenvalues: pairs.values,
            residuals: check?.residuals, orthogonality: check?.orthogonality, vectorChecksums: check?.checksums, frobeniusNorm: frobenius,
            solveSeconds: solveSeconds, totalSeconds: total, peakMemoryBytesPerRank: peaks.map { Int($0) },
            solvePeakMemoryBytesPerRank: solvePeaks.allSatisfy { $0 >= 0 } ? solvePeaks.map { Int($0) } : nil,
            rowBlockBytes: local.count * n * 8,
            modelBytesPerProcess: Int(solver.bytesPerProcess(dimension: n, vectors: vectors, processes: communicator.size)),
            ranks: communicator.size, machine: .current(ranks: communicator.size),
            arguments: Array(CommandLine.arguments.dropFirst()))
        say("Wisp \(wispVersionAndCommit) dense-eigen")
        say("  matrix     \(matrix), n = \(n), ‖A‖_F = \(String(format: "%.6e", frobenius))")
        say("  method     \(pairs.method), \(communicator.size) process\(communicator.size == 1 ? "" : "es")")
        let shown = pairs.values.suffix(5).reversed().map { String(format: "%.10e", $0) }.joined(separator: ", ")
        say("  largest    \(shown)\(pairs.values.count > 5 ? ", …" : "") (\(pairs.values.count) eigenvalues)")
        if let check {
            say(String(format: "  vectors    worst residual %.2e (%.1e ‖A‖_F), orthogonality %.1e", check.residuals.max() ?? 0,
                       (check.residuals.max() ?? 0) / max(frobenius, .leastNormalMagnitude), check.orthogonality))
        }
        say(String(format: "  time       solve %.3f s, total %.3f s", solveSeconds, total))
        say("  memory     peak per rank \(peaks.map { ResourceUsage.format(bytes: Int($0)) }.joined(separator: ", "))"
            + (result.solvePeakMemoryBytesPerRank.map { "; in the solve \($0.map { ResourceUsage.format(bytes: $0) }.joined(separator: ", "))" } ?? "")
            + "; model \(ResourceUsage.format(bytes: result.modelBytesPerProcess)) + rows \(ResourceUsage.format(bytes: result.rowBlockBytes))")
        if let path = out.output {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(encoder.encode(result), to: path)
            say("  output     \(path)")
        }
    }
}

enum DenseSolverChoice: String, ExpressibleByArgument, CaseIterable {
    case scalapack, lapack
}

/// What `dense-eigen` writes.
struct DenseEigenResult: Encodable {
    var version = wispVersion
    var commit = wispBuildCommit
    var command = "dense-eigen"
    var dimension: Int
    var method: String
    /// The ascending (0-based) indices of the eigenvalues in the full spectrum.
    var indices: [Int]
    /// Ascending.
    var eigenvalues: [Double]
    /// ‖A v_j − λ_j v_j‖₂ per eigenvalue (with --vectors).
    var residuals: [Double]?
    /// max |VᵀV − I| (with --vectors).
    var orthogonality: Double?
    /// Σ_i cos(i)·v_ij per eigenvector (with --vectors): compares vectors, signs included, between runs.
    var vectorChecksums: [Double]?
    var frobeniusNorm: Double
    var solveSeconds: Double
    var totalSeconds: Double
    var peakMemoryBytesPerRank: [Int]
    /// VmHWM over the solve alone (reset just before it; the input row block counts), per rank.
    var solvePeakMemoryBytesPerRank: [Int]?
    /// Rank 0's input row block.
    var rowBlockBytes: Int
    var modelBytesPerProcess: Int
    var ranks: Int
    var machine: MachineRecord
    var arguments: [String]

    enum CodingKeys: String, CodingKey {
        case version = "wisp_version", commit = "wisp_commit", command, dimension, method, indices, eigenvalues, residuals, orthogonality,
             vectorChecksums = "vector_checksums", frobeniusNorm = "frobenius_norm", solveSeconds = "solve_seconds", totalSeconds = "total_seconds",
             peakMemoryBytesPerRank = "peak_memory_bytes_per_rank", modelBytesPerProcess = "model_bytes_per_process",
             solvePeakMemoryBytesPerRank = "solve_peak_memory_bytes_per_rank", rowBlockBytes = "row_block_bytes",
             ranks, machine, arguments
    }
}

/// Residuals and orthogonality of row-distributed eigenvectors, column block by column block:
/// for the columns c of a block, Y = Σ_r A_rᵀ V_r[:, c] = A V[:, c] (A symmetric; one
/// allreduce of n × b), each process forms its rows of Y − V Λ; and G = Σ_r V_rᵀ V_r[:, c]
/// (one allreduce of m × b). Cost 2(n + m)·n·m/p flops per process.
private struct VectorCheck {
    var residuals: [Double]
    var orthogonality: Double
    var checksums: [Double]

    static func measure(rows a: [Double], local: Range<Int>, n: Int, pairs: DistributedEigenpairs,
                        communicator: any Communicator) -> VectorCheck {
        let m = pairs.values.count, h = local.count
        let v = pairs.vectorRows
        let width = 256
        var squares = [Double](repeating: 0, count: m)
        var worst = 0.0
        var start = 0
        while start < m {
            let b = min(width, m - start)
            var y = [Double](repeating: 0, count: n * b)
            var g = [Double](repeating: 0, count: m * b)
            if h > 0 {
                a.withUnsafeBufferPointer { ap in
                    v.withUnsafeBufferPointer { vp in
                        y.withUnsafeMutableBufferPointer { yp in
                            Double.gemm(transA: true, transB: false, m: n, n: b, k: h, alpha: 1, a: ap.baseAddress!, lda: n,
                                        b: vp.baseAddress! + start, ldb: m, beta: 0, c: yp.baseAddress!, ldc: b)
                        }
                        g.withUnsafeMutableBufferPointer { gp in
                            Double.gemm(transA: true, transB: false, m: m, n: b, k: h, alpha: 1, a: vp.baseAddress!, lda: m,
                                        b: vp.baseAddress! + start, ldb: m, beta: 0, c: gp.baseAddress!, ldc: b)
                        }
                    }
                }
            }
            y.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
            g.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
            for i in 0..<h {
                for c in 0..<b {
                    let r = y[(local.lowerBound + i) * b + c] - pairs.values[start + c] * v[i * m + start + c]
                    squares[start + c] += r * r
                }
            }
            for row in 0..<m {
                for c in 0..<b { worst = max(worst, abs(g[row * b + c] - (row == start + c ? 1 : 0))) }
            }
            start += b
        }
        squares.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        // Σ_i cos(i) v_ij: a fingerprint of each vector, sign included, to compare runs.
        var checksums = [Double](repeating: 0, count: m)
        for i in 0..<h {
            let weight = cos(Double(local.lowerBound + i))
            for j in 0..<m { checksums[j] += weight * v[i * m + j] }
        }
        checksums.withUnsafeMutableBufferPointer { communicator.allreduceSum($0) }
        return VectorCheck(residuals: squares.map { $0.squareRoot() }, orthogonality: worst, checksums: checksums)
    }
}

/// Resets VmHWM to the current resident size ("5" > /proc/self/clear_refs, Linux ≥ 4.0), so a
/// later reading is the peak of what ran since. False where that is not possible.
private func resetPeakMemory() -> Bool {
    let fd = open("/proc/self/clear_refs", O_WRONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return write(fd, "5", 1) == 1
}
