import Foundation

/// Which path computed a spectrum, and why: the exact sample-space path (``ExactSpectrumJob``)
/// or a matrix-free iterative one (Lanczos, SLQ, KPM).
///
/// `auto` takes the exact path when the matrix has a sample-space form, the TC × TC matrix fits
/// in half the available memory per process, and its modelled cost is no larger than the
/// iterative method's:
///
///     exact     = form + 3 · solve      (form: C backward passes + the Gram GEMMs; solve: 4/3 (TC)³
///                                        for the tridiagonal reduction, weighted ×3 since half of
///                                        it runs at matrix-vector speed)
///     iterative = applications · flops per product (4 T (2 Σ_l M_l M_(l−1) − d M_1))
///
/// with the iterative method's applications estimated from its settings (Lanczos: twice the
/// basis; SLQ: probes × steps; KPM: probes × moments / 2 + bounds).
public struct MethodChoice: Codable, Sendable {
    /// What was asked for: "auto", "exact", or the iterative method's name.
    public var requested: String
    /// What ran: "exact" or the iterative method's name.
    public var method: String
    public var reason: String
    /// Modelled flops of the exact path (forming + 3 × solving) and of the iterative method.
    public var exactFlops: Double?
    public var iterativeFlops: Double
    /// Bytes per process the exact path needs, and the bytes available.
    public var exactBytes: Double?
    public var availableBytes: Double?

    public var isExact: Bool { method == "exact" }

    public init(requested: String, method: String, reason: String, exactFlops: Double? = nil, iterativeFlops: Double,
                exactBytes: Double? = nil, availableBytes: Double? = nil) {
        self.requested = requested
        self.method = method
        self.reason = reason
        self.exactFlops = exactFlops
        self.iterativeFlops = iterativeFlops
        self.exactBytes = exactBytes
        self.availableBytes = availableBytes
    }

    private enum CodingKeys: String, CodingKey {
        case requested, method, reason, exactFlops = "exact_flops", iterativeFlops = "iterative_flops",
             exactBytes = "exact_bytes_per_process", availableBytes = "available_bytes"
    }

    /// Why `top`'s exact path cannot give the k pairs asked for (nil: it can): F's smallest
    /// eigenvalues lie in its null space when P > TC (not in K's spectrum), and K has only TC.
    public static func topRestriction(matrix: CurvatureMatrix, which: SpectrumEnd, count k: Int, parameters P: Int, dimension n: Int) -> String? {
        if which == .smallest && matrix != .ntk && P > n {
            return "the smallest eigenvalues of \(matrix.rawValue) lie in its null space (P = \(P) > TC = \(n)); use \(Setting.matrix) ntk for K's smallest"
        }
        return k > n ? "\(Setting.lanczosCount) \(k) exceeds TC = \(n), the number of nonzero eigenvalues the sample space holds" : nil
    }

    /// Decides between the exact path and `iterative` (its name and estimated operator
    /// applications). `requested` is "auto", "exact" or `iterative`. Throws when "exact" is
    /// asked for and cannot run (no sample-space form, or too large: the bytes are named).
    public static func choose(_ problem: some ExactSampleSpaceProblem, matrix: CurvatureMatrix, requested: String, iterative: String,
                              iterativeApplications: Int, selection: EigenSelection, vectors: Bool,
                              solver: any SymmetricEigensolver, exactRestriction: String? = nil) throws -> MethodChoice {
        let iterativeFlops = Double(iterativeApplications) * problem.productFlops
        var choice = MethodChoice(requested: requested, method: iterative, reason: "", exactFlops: nil, iterativeFlops: iterativeFlops)
        if requested == iterative {
            choice.reason = "requested"
            return choice
        }
        if let why = ExactSpectrumJob.unsupportedReason(matrix) ?? problem.exactUnsupportedReason(matrix) ?? exactRestriction {
            if requested == "exact" { throw WispError.invalidConfiguration("\(Setting.method) exact: \(why)") }
            choice.reason = "no exact sample-space form: \(why)"
            return choice
        }
        let (form, solve) = ExactSpectrumJob.flops(problem, selection: selection, vectors: vectors)
        let bytes = ExactSpectrumJob.bytesPerProcess(problem, vectors: vectors, solver: solver)
        let available = ResourceUsage.availableBytes().map(Double.init)
        choice.exactFlops = form + 3 * solve
        choice.exactBytes = bytes
        choice.availableBytes = available
        let n = problem.sampleSpaceDimension
        if requested == "exact" {
            try problem.communicator.agree { try ExactSpectrumJob.ensureFits(problem, vectors: vectors, solver: solver) }
            choice.method = "exact"
            choice.reason = "requested"
            return choice
        }
        // auto: the same decision on every process (the memory reading differs by node).
        let fits = problem.communicator.allreduceMin(available.map { bytes <= 0.5 * $0 } ?? true ? 1 : 0) == 1
        if !fits {
            choice.reason = "the \(n) × \(n) sample-space matrix needs more than half the available memory per process (exact_bytes_per_process)"
        } else if form + 3 * solve > iterativeFlops {
            choice.reason = "the exact path's modelled cost (exact_flops) exceeds \(iterative)'s (iterative_flops, \(iterativeApplications) products)"
        } else {
            choice.method = "exact"
            choice.reason = "the \(n) × \(n) sample-space matrix fits in memory and its modelled cost (exact_flops) is below \(iterative)'s (iterative_flops, \(iterativeApplications) products)"
        }
        return choice
    }
}
