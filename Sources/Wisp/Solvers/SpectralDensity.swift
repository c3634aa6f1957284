import Foundation

/// The axis a density is drawn on.
public enum GridScale: String, Codable, Sendable, CaseIterable {
    /// ρ(λ) per unit λ on evenly spaced λ.
    case linear
    /// ρ(x) per unit x = log₁₀ λ on evenly spaced x: the natural axis for spectra that span
    /// many decades (Fisher spectra: a bulk near 0 and outliers of order M).
    case log
}

/// How to turn quadrature rules into a smooth density.
public struct DensitySettings: Codable, Sendable, Equatable {
    public var scale: GridScale = .log
    public var points: Int = 400
    /// Gaussian broadening σ: in decades on a log grid, as a fraction of the grid's span on a
    /// linear grid. Default 0.05 decades / 0.01 of the span.
    public var broadening: Double? = nil
    /// Nodes with |θ| ≤ zeroCutoff · max|θ| count as zero eigenvalues.
    public var zeroCutoff: Double = 1e-10

    public init(scale: GridScale = .log, points: Int = 400, broadening: Double? = nil, zeroCutoff: Double = 1e-10) {
        self.scale = scale
        self.points = points
        self.broadening = broadening
        self.zeroCutoff = zeroCutoff
    }

    public var effectiveBroadening: Double { broadening ?? (scale == .log ? 0.05 : 0.01) }

    private enum CodingKeys: String, CodingKey { case scale, points, broadening, zeroCutoff = "zero_cutoff" }
}

/// A spectral density ρ on a grid, with the mass it cannot show kept apart.
///
/// The measured measure is μ = (1/n_v) Σ_probes Σ_j τ_j δ(λ − θ_j) (SLQ, Ubaru et al. 2017).
/// On a linear grid ρ(λ) = Σ w_j N(λ; θ_j, σ²); on a log grid ρ(x) = Σ_(θ_j > 0) w_j N(x; log₁₀ θ_j, σ²).
/// Mass at |θ| ≤ cutoff is reported as ``zeroMass`` (and, on a log grid, mass at negative θ as
/// ``negativeMass``); ∫ρ = 1 − zeroMass − negativeMass up to the grid's truncation.
///
/// The grid spans the nodes that carry weight: a node whose weight is at most n·ε·max w
/// (n nodes) lies below the absolute rounding error of the Gauss weights, so its position is
/// rounding noise. Lanczos run past the rank of the matrix (F has rank ≤ TC ≪ P) produces
/// such nodes anywhere in the spectrum with weights ~1e-35, different on every rank count
/// (the reductions round differently); they used to set the lower end of the log grid.
/// Their mass (≤ n²ε) still enters the sums.
public struct SpectralDensity: Codable, Sendable {
    public var scale: GridScale
    /// λ at each grid point (also for a log grid, where the points are evenly spaced in log₁₀ λ).
    public var grid: [Double]
    /// ρ at each grid point: per unit λ (linear) or per unit log₁₀ λ (log).
    public var density: [Double]
    public var broadening: Double
    public var zeroMass: Double
    public var negativeMass: Double

    private enum CodingKeys: String, CodingKey {
        case scale = "grid_scale", grid, density, broadening, zeroMass = "zero_mass", negativeMass = "negative_mass"
    }

    /// The density of a measure Σ weights·δ(nodes) (weights summing to 1 − `extraZeroMass`),
    /// plus `extraZeroMass` at λ = 0 known analytically (e.g. the null space 1 − TC/P of F).
    public init(nodes: [Double], weights: [Double], extraZeroMass: Double = 0, settings: DensitySettings) throws {
        guard settings.points >= 2 else { throw WispError.invalidConfiguration("\(Setting.densityPoints) must be at least 2 (got \(settings.points))") }
        let sigma = settings.effectiveBroadening
        guard sigma > 0, sigma.isFinite else { throw WispError.invalidConfiguration("\(Setting.densityBroadening) must be positive (got \(sigma))") }
        guard settings.zeroCutoff >= 0, settings.zeroCutoff < 1 else {
            throw WispError.invalidConfiguration("\(Setting.densityZeroCutoff) must be in [0, 1) (got \(settings.zeroCutoff))")
        }
        scale = settings.scale
        broadening = sigma
        let largest = nodes.map(abs).max() ?? 0
        let cutoff = settings.zeroCutoff * largest
        var zero = extraZeroMass, negative = 0.0
        var points = [(x: Double, w: Double)]()
        for (theta, w) in zip(nodes, weights) {
            if abs(theta) <= cutoff { zero += w; continue }
            switch settings.scale {
            case .linear: points.append((theta, w))
            case .log:
                if theta < 0 { negative += w } else { points.append((Foundation.log10(theta), w)) }
            }
        }
        zeroMass = max(zero, 0)
        negativeMass = negative
        let n = settings.points
        let negligible = Double(nodes.count) * Double.ulpOfOne * (weights.map(abs).max() ?? 0)
        let weighty = points.filter { $0.w > negligible }.map(\.x)
        let extent = weighty.isEmpty ? points.map(\.x) : weighty
        guard let lo0 = extent.min(), let hi0 = extent.max() else {
            grid = []; density = []
            return
        }
        let (lo, hi): (Double, Double)
        var width: Double
        switch settings.scale {
        case .log:
            // Ends snapped outward to 0.1 decade, so rounding-level changes of the extreme
            // nodes (e.g. a Ritz value near a null space) do not move the whole grid.
            width = sigma
            (lo, hi) = (Foundation.floor((lo0 - 4 * width) * 10) / 10, Foundation.ceil((hi0 + 4 * width) * 10) / 10)
        case .linear:
            let span = max(hi0 - lo0, abs(hi0) * 1e-3, .leastNormalMagnitude)
            width = sigma * span
            (lo, hi) = (lo0 - 4 * width, hi0 + 4 * width)
        }
        width = max(width, .leastNormalMagnitude)
        let xs = (0..<n).map { lo + (hi - lo) * Double($0) / Double(n - 1) }
        let norm = 1 / (width * (2 * Double.pi).squareRoot())
        density = xs.map { x in
            points.reduce(0) { acc, p in
                let z = (x - p.x) / width
                return z * z > 80 ? acc : acc + p.w * norm * Foundation.exp(-0.5 * z * z)
            }
        }
        grid = settings.scale == .log ? xs.map { Foundation.pow(10, $0) } : xs
    }

    /// The curve as point masses: ρ(x_i)·Δx at every grid point (λ_i), plus ``zeroMass`` at λ = 0
    /// (for distances such as ``SpectralDistance/wasserstein1(_:_:)``; the mass outside the grid
    /// and ``negativeMass`` on a log grid are not included).
    public func measure() -> (nodes: [Double], weights: [Double]) {
        guard grid.count >= 2 else { return ([0], [zeroMass]) }
        let x0 = scale == .log ? Foundation.log10(grid[0]) : grid[0]
        let x1 = scale == .log ? Foundation.log10(grid[grid.count - 1]) : grid[grid.count - 1]
        let dx = (x1 - x0) / Double(grid.count - 1)
        return (grid + [0], density.map { max($0, 0) * dx } + [zeroMass])
    }

    /// The pooled measure of all probes' rules, each probe weighted 1/n_v.
    public static func pooled(_ rules: [QuadratureRule]) -> (nodes: [Double], weights: [Double]) {
        let share = 1 / Double(max(rules.count, 1))
        return (rules.flatMap(\.nodes), rules.flatMap { $0.weights.map { $0 * share } })
    }
}
