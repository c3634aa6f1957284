import Foundation

/// `spectra.svg` of `wisp train`: the spectrum at the first, middle and last checkpoints on a
/// common scale λ/λ_max, as Cowlagi & Chaudhari's Fig. 2 compares them, in two panels.
///
/// SLQ measures μ = (1/n_v) Σ_probes Σ_j τ_j δ(λ − θ_j): n_v·m Gauss nodes θ_j (m Lanczos steps
/// per probe) with weights τ_j / n_v (Ubaru, Chen & Saad 2017). Drawn as a density with the
/// run's 0.05-decade Gaussians it is a comb of spikes, one per node, that says more about m than
/// about the spectrum. So:
///
/// (a) **Eigenvalues by rank**, Cowlagi & Chaudhari's own axes: λ/λ_max against the fraction of
///     eigenvalues ≥ λ, i.e. the quantile function of μ, u ↦ θ_(j) for Σ_(k<j) w_(k) < u ≤
///     Σ_(k≤j) w_(k) with the nodes sorted descending. A staircase straight from the nodes and
///     weights: no width, no choice, and it converges to the true curve as n_v and m grow (the
///     Gauss rule matches 2m − 1 moments of each probe's measure). On a log axis it ends where the
///     mass at λ ≤ 10⁻¹⁰ λ_max (the zero mass) and at λ < 0 begins.
/// (b) **Density**, Gaussian-broadened with one width σ for all curves, so that the curves can be
///     compared: σ = max(σ_run, s / (2(m − 1))), s the span of the nodes that carry weight in
///     x = log₁₀ λ (log grid, σ in decades) or x = λ/λ_max (linear grid). s/(m − 1) is the mean
///     spacing of one probe's m nodes, and two equal Gaussians one spacing apart merge into one
///     bump when σ ≥ spacing/2 (the sum of N(0, σ²) and N(d, σ²) is unimodal iff d ≤ 2σ). Features
///     narrower than that spacing are not resolved by m steps anyway. The width is a plotting
///     choice, not a measurement: the panel title states it and `spectra.csv` records it.
///
/// Nodes with weight ≤ n·ε·max w (rounding noise of the Gauss weights, as in ``SpectralDensity``)
/// are left out of both panels. Cost O(c·(n log n + G·n)) for c curves of n nodes, G grid points.
public enum TrainSpectraFigure {
    /// One checkpoint's SLQ measure.
    public struct Spectrum: Sendable {
        public var step: Int
        /// Gauss nodes of every probe and their weights (summing to 1, the null space included).
        public var nodes: [Double]
        public var weights: [Double]
        /// Lanczos steps per probe (m).
        public var steps: Int
        public init(step: Int, nodes: [Double], weights: [Double], steps: Int) {
            self.step = step
            self.nodes = nodes
            self.weights = weights
            self.steps = steps
        }

        /// λ_max as estimated: the largest node (a lower bound, close to λ_max); the largest |θ|
        /// when no node is positive.
        public var lambdaMax: Double {
            let top = nodes.max() ?? 0
            return top > 0 ? top : max(nodes.map(abs).max() ?? 1, .leastNormalMagnitude)
        }
    }

    /// The staircase of panel (a) for `s`: x the fraction of eigenvalues ≥ λ, y = λ/λ_max, two
    /// points per node (the start and end of its step), y descending. On a `.log` scale only
    /// the nodes above the zero cutoff (|θ| > 10⁻¹⁰ max|θ|) and positive are drawn.
    public static func staircase(_ s: Spectrum, scale: GridScale) -> (x: [Double], y: [Double]) {
        let top = s.lambdaMax
        var x = [Double](), y = [Double](), mass = 0.0
        for (theta, w) in support(s).sorted(by: { $0.theta > $1.theta }) {
            let shown = scale == .linear || (theta > 0 && !isZero(theta, s))
            if shown {
                x += [mass, mass + w]
                y += [theta / top, theta / top]
            }
            mass += w
        }
        return (x, y)
    }

    /// σ for one checkpoint (``DensitySettings/broadening`` units: decades on a log grid, a
    /// fraction of the nodes' span on a linear one): max(`minimum`, s/(2(m − 1))) as in the type's
    /// comment, m taken as at least 2.
    public static func broadening(_ s: Spectrum, scale: GridScale, minimum: Double) -> Double {
        let half = 1 / (2 * Double(max(s.steps, 2) - 1))
        switch scale {
        case .linear: return max(minimum, half)
        case .log:
            let xs = support(s).filter { $0.theta > 0 && !isZero($0.theta, s) }.map { log10($0.theta / s.lambdaMax) }
            guard let lo = xs.min(), let hi = xs.max() else { return minimum }
            return max(minimum, (hi - lo) * half)
        }
    }

    /// The densities of panel (b), on λ/λ_max, all with one width: σ in decades on a log grid;
    /// on a linear grid the largest σ·span of the curves in units of λ/λ_max. Returns the
    /// densities and that common width in the abscissa's units.
    public static func densities(_ spectra: [Spectrum], grid: DensitySettings) throws -> (densities: [SpectralDensity], sigma: Double) {
        let minimum = grid.effectiveBroadening
        let fractions = spectra.map { broadening($0, scale: grid.scale, minimum: minimum) }
        let spans = spectra.map { linearSpan($0) }
        let sigma = grid.scale == .log ? fractions.max() ?? minimum : zip(fractions, spans).map { $0 * $1 }.max() ?? minimum
        let densities = try zip(spectra, spans).map { (s, span) -> SpectralDensity in
            var settings = grid
            settings.broadening = grid.scale == .log ? sigma : sigma / span
            let top = s.lambdaMax
            return try SpectralDensity(nodes: s.nodes.map { $0 / top }, weights: s.weights, settings: settings)
        }
        return (densities, sigma)
    }

    /// The figure: (a) the staircases, (b) the densities with their common σ; `what` names the
    /// matrix ("G"), `method` the estimate ("SLQ, 10 probes × 20 Lanczos steps").
    public static func svg(_ spectra: [Spectrum], grid: DensitySettings, what: String, method: String) throws -> String {
        let isLog = grid.scale == .log
        let (densities, sigma) = try densities(spectra, grid: grid)
        var ranked = [SeriesPlot.Curve](), smooth = [SeriesPlot.Curve]()
        for (s, d) in zip(spectra, densities) {
            var label = "step \(s.step): λ_max ≈ " + String(format: "%.4g", s.lambdaMax)
            if isLog, d.zeroMass + d.negativeMass >= 5e-4 { label += String(format: ", zero mass %.3f", d.zeroMass) }
            if isLog, d.negativeMass >= 5e-4 { label += String(format: ", λ < 0: %.3f", d.negativeMass) }
            let (x, y) = staircase(s, scale: grid.scale)
            ranked.append(SeriesPlot.Curve(label: label, x: x, y: y, dots: false))
            smooth.append(SeriesPlot.Curve(label: label, x: d.grid, y: d.density, dots: false))
        }
        let width = isLog ? String(format: "σ = %.2g decade", sigma) : String(format: "σ = %.2g λ_max", sigma)
        return SeriesPlot.svg(title: "spectrum of \(what) through training: \(method) (Cowlagi & Chaudhari Fig. 2)", panels: [
            SeriesPlot.Panel(title: "(a) eigenvalues by rank: SLQ nodes and weights, unbroadened", curves: ranked, logY: isLog,
                             xLabel: "fraction of eigenvalues ≥ λ (rank i / P)", yLabel: "λ / λ_max"),
            SeriesPlot.Panel(title: "(b) density, Gaussians of \(width) (½ node spacing)", curves: smooth, density: true, logX: isLog,
                             xLabel: "λ / λ_max", yLabel: isLog ? "density per unit log₁₀ λ" : "density per unit λ / λ_max"),
        ], xLabel: "λ / λ_max", columns: 2)
    }

    /// `spectra.csv`: the densities of panel (b), `step,lambda_over_lambda_max,density,sigma_…`
    /// (σ in decades of λ on a log grid, in units of λ_max on a linear one).
    public static func densityCSV(_ spectra: [Spectrum], grid: DensitySettings) throws -> String {
        let (densities, sigma) = try densities(spectra, grid: grid)
        var csv = "step,lambda_over_lambda_max,density," + (grid.scale == .log ? "sigma_log10_lambda" : "sigma_lambda_over_lambda_max") + "\n"
        for (s, d) in zip(spectra, densities) {
            for (x, y) in zip(d.grid, d.density) { csv += "\(s.step),\(x),\(y),\(sigma)\n" }
        }
        return csv
    }

    /// `spectra-nodes.csv`: the measure behind both panels, one row per node that carries
    /// weight, descending: `step,lambda,weight,lambda_over_lambda_max,fraction_at_or_above`.
    public static func nodesCSV(_ spectra: [Spectrum]) -> String {
        var csv = "step,lambda,weight,lambda_over_lambda_max,fraction_at_or_above\n"
        for s in spectra {
            var mass = 0.0
            for (theta, w) in support(s).sorted(by: { $0.theta > $1.theta }) {
                mass += w
                csv += "\(s.step),\(theta),\(w),\(theta / s.lambdaMax),\(mass)\n"
            }
        }
        return csv
    }

    /// The nodes that carry weight (w > n·ε·max w).
    static func support(_ s: Spectrum) -> [(theta: Double, w: Double)] {
        let negligible = Double(s.nodes.count) * Double.ulpOfOne * (s.weights.map(abs).max() ?? 0)
        return zip(s.nodes, s.weights).filter { $0.1 > negligible && $0.0.isFinite }.map { (theta: $0.0, w: $0.1) }
    }

    /// |θ| ≤ 10⁻¹⁰ max|θ|: a zero eigenvalue, as ``DensitySettings/zeroCutoff``'s default.
    static func isZero(_ theta: Double, _ s: Spectrum) -> Bool { abs(theta) <= 1e-10 * (s.nodes.map(abs).max() ?? 0) }

    /// The span ``SpectralDensity`` broadens a linear grid by, in units of λ/λ_max: that of the
    /// nonzero nodes that carry weight, at least 10⁻³ of the largest.
    static func linearSpan(_ s: Spectrum) -> Double {
        let xs = support(s).filter { !isZero($0.theta, s) }.map { $0.theta / s.lambdaMax }
        guard let lo = xs.min(), let hi = xs.max() else { return 1 }
        return max(hi - lo, abs(hi) * 1e-3, .leastNormalMagnitude)
    }
}
