/// The sizes of a run's large allocations, estimated from the configuration before they are
/// made (each with checked arithmetic, through ``MemoryBudget``), so that a size that cannot
/// fit ends in one error line with the bytes needed and available instead of an abort in the
/// allocator, a trap on overflow or hours of swapping.
///
/// | what | elements (8 bytes each unless said) | checked in |
/// | --- | --- | --- |
/// | inputs | T_local · d | ``DataLoader`` (Gaussian and file inputs) |
/// | one-hot targets | T_local · C | ``DataLoader`` (labels) |
/// | network | P in the pass precision (drawn directly in it; a model file adds its Float64 copy, P more) + the forward pass's pre- and post-activations, 2 T_local Σ_l M_l in the pass precision, + the tangent and adjoint passes' as many again | ``Problem`` |
/// | Krylov basis | vectors · local dimension | ``TopJob``, ``DensityJob``, ``KPMDensityJob`` |
/// | density grid | 4 · grid points | ``DensityJob``, ``KPMDensityJob`` |
/// | Chebyshev moments | probes · M + 2 max(4M, 4096) | ``KPMDensityJob`` |
/// | SLQ quadrature rules | probes · steps · 2 | ``DensityJob`` |
///
/// These are lower bounds (the work buffers of BLAS and of the solvers come on top), so a run
/// that passes may still be close to the limit; one that fails certainly could not run.
public enum RunMemory {
    /// The network of a model file and its passes (read in Float64, then converted to the pass
    /// precision); refuses before the parameters are allocated. Returns P (checked).
    public static func checkNetwork(widths: [Int], localSamples: Int, precision: Precision) throws -> Int {
        var P = 0
        var units = 0
        for l in widths.indices.dropFirst() {
            let layer = try MemoryBudget.count("the network's parameter count P", widths[l], widths[l - 1] + 1)
            P = try MemoryBudget.sum("the network's parameter count P", [P, layer])
            units = try MemoryBudget.sum("the network's widths", [units, widths[l]])
        }
        let element = precision == .float32 ? 4 : 8
        let weights = try MemoryBudget.bytes("the network's parameters", P, 8 + element)
        let activations = try MemoryBudget.bytes("the network's activations", 4, localSamples, units, element)
        try MemoryBudget.require(try MemoryBudget.sum("the network", [weights, activations]),
                                 for: "the network (P = \(P) parameters, widths \(describe(widths)), \(localSamples) samples on this process: weights and activations)")
        return P
    }

    /// The network from flags: depth L, width M, input dimension d, C outputs — checked before
    /// the width list (L + 1 entries) is even made.
    public static func checkNetwork(depth: Int, width: Int, inputDimension: Int, outputs: Int, localSamples: Int,
                                    precision: Precision) throws {
        guard depth >= 1, width >= 1, inputDimension >= 1, outputs >= 1 else { return }   // the architecture's own errors
        let hidden = depth - 1
        try MemoryBudget.allocation("the layer list of \(Setting.depth) \(depth)", count: depth + 1)
        // Σ_l M_l (M_(l−1) + 1) with the hidden layers all M wide, without building the list.
        let first = try MemoryBudget.count("P", hidden > 0 ? width : outputs, inputDimension + 1)
        let middle = hidden > 1 ? try MemoryBudget.count("P", hidden - 1, width, width + 1) : 0
        let last = hidden > 0 ? try MemoryBudget.count("P", outputs, width + 1) : 0
        let P = try MemoryBudget.sum("the network's parameter count P (\(Setting.depth) \(depth), \(Setting.width) \(width))", [first, middle, last])
        let units = try MemoryBudget.sum("the network's widths", [try MemoryBudget.count("widths", hidden, width), outputs])
        let element = precision == .float32 ? 4 : 8
        // Drawn directly in the pass precision (no Float64 copy of θ, ``Problem``).
        let weights = try MemoryBudget.bytes("the network's parameters", P, element)
        let activations = try MemoryBudget.bytes("the network's activations", 4, localSamples, units, element)
        try MemoryBudget.require(try MemoryBudget.sum("the network", [weights, activations]),
                                 for: "the network (\(Setting.depth) \(depth), \(Setting.width) \(width): P = \(P) parameters, \(localSamples) samples on this process: weights and activations)")
    }

    /// A Krylov basis of `vectors` vectors of `length` doubles.
    public static func checkBasis(vectors: Int, length: Int, what: String) throws {
        let bytes = try MemoryBudget.bytes(what, vectors, length, 8)
        try MemoryBudget.require(bytes, for: "\(what) (\(vectors) vectors of length \(length))")
    }

    /// A density: `probes` quadrature rules (SLQ: nodes and weights) or moment vectors (KPM),
    /// `nodesPerProbe` each, and a grid of `gridPoints` (values, density, broadening work).
    public static func checkDensity(probes: Int, nodesPerProbe: Int, gridPoints: Int) throws {
        guard probes >= 1, gridPoints >= 1 else { return }   // the solvers' own errors
        let rules = try MemoryBudget.bytes("the probes' results (\(Setting.slqProbes) \(probes))", probes, max(nodesPerProbe, 1), 2, 8)
        let grid = try MemoryBudget.bytes("the density grid (\(Setting.densityPoints) \(gridPoints))", gridPoints, 4, 8)
        try MemoryBudget.require(try MemoryBudget.sum("the density", [rules, grid]),
                                 for: "the density (\(probes) probes × \(nodesPerProbe) nodes or moments, a grid of \(gridPoints) points)")
    }

    private static func describe(_ widths: [Int]) -> String {
        widths.count <= 8 ? "\(widths)" : "[\(widths[0]), \(widths[1]), … \(widths.count - 2) more]"
    }
}
