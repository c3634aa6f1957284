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
///     Gauss rule matches 2m − 1 moments of each probe's measure, and by the Chebyshev–Markov–
///     Stieltjes inequalities that measure's distribution function F satisfies
///     Σ_(k<j) w_k ≤ F(θ_j) ≤ Σ_(k≤j) w_k, nodes ascending: it crosses every step of that
///     probe's staircase; Akhiezer, The Classical Moment Problem, 1965; Golub & Meurant 2010).
///     On a log axis it ends where the mass at λ ≤ 10⁻¹⁰ λ_max (the zero mass) and at λ < 0 begins.
/// (b) **Density**, each node θ_j a Gaussian in x (x = log₁₀ λ on a log grid, λ/λ_max on a
///     linear one) of its own width σ_j = max(σ_run, d_j), d_j the distance from x_j to its n_v-th
///     nearest other node (n_v probes). Each probe's rule spreads its m nodes over the whole
///     spectrum, so n_v probes put about n_v nodes into each of m slots; the n_v nodes nearest x_j
///     then lie within ±d_j, and d_j is about half a slot, half the local spacing Δ of one probe's
///     rule (a whole slot where the probes' nodes coincide, as converged Ritz values do). Two
///     equal Gaussians Δ apart merge into one bump when σ ≥ Δ/2 (N(0, σ²) + N(Δ, σ²) is unimodal
///     iff Δ ≤ 2σ), so the comb closes where the nodes are dense, and a lone node (the bottom one,
///     which stands for all of the unresolved bulk below it) is spread over its slot instead of
///     drawn as a spike of its whole mass. Features narrower than a slot are not resolved by m
///     steps anyway. A fixed width cannot do both: Lanczos resolves λ, not log λ, so its nodes are
///     dense at the top and decades apart at the bottom. (The k-nearest-neighbour bandwidth of
///     Loftsgaarden & Quesenberry 1965 and Breiman, Meisel & Purcell 1977, with k = n_v.) The
///     widths are a plotting choice, not a measurement: the panel title states the rule and
///     `spectra-nodes.csv` records every σ_j. The kernels are reflected at λ_max (below), so no
///     mass is drawn above the largest Ritz value.
///
/// Nodes with weight ≤ n·ε·max w (rounding noise of the Gauss weights, as in ``SpectralDensity``)
/// are left out of both panels. Cost O(c·(n log n + n·n_v + G·n)) for c curves of n nodes, G grid points.
public enum TrainSpectraFigure {
    /// One checkpoint's SLQ measure.
    public struct Spectrum: Sendable {
        public var step: Int
        /// Gauss nodes of every probe and their weights (summing to 1, the null space included).
        public var nodes: [Double]
        public var weights: [Double]
        /// Probes (n_v).
        public var probes: Int
        public init(step: Int, nodes: [Double], weights: [Double], probes: Int) {
            self.step = step
            self.nodes = nodes
            self.weights = weights
            self.probes = probes
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

    /// The nodes drawn in panel (b) with their widths: x_j (log₁₀(θ_j/λ_max) on a log grid,
    /// θ_j/λ_max on a linear one), w_j and σ_j = max(`minimum`, d_j) as in the type's comment
    /// (`minimum` in decades on a log grid, in units of λ_max on a linear one), ascending in x.
    /// Zero nodes (and negative ones on a log grid) are left out: their mass is the zero
    /// (negative) mass.
    public static func kernels(_ s: Spectrum, scale: GridScale, minimum: Double) -> [(x: Double, w: Double, sigma: Double)] {
        let top = s.lambdaMax
        let points = support(s).filter { !isZero($0.theta, s) && (scale == .linear || $0.theta > 0) }
            .map { (x: scale == .log ? log10($0.theta / top) : $0.theta / top, w: $0.w) }.sorted { $0.x < $1.x }
        let k = max(s.probes, 1)
        return points.indices.map { j in
            // The k-th nearest of the others: merge outward from j.
            var lo = j - 1, hi = j + 1, d = 0.0
            for _ in 0..<min(k, points.count - 1) {
                let dl = lo >= 0 ? points[j].x - points[lo].x : .infinity
                let dh = hi < points.count ? points[hi].x - points[j].x : .infinity
                if dl <= dh { d = dl; lo -= 1 } else { d = dh; hi += 1 }
            }
            return (points[j].x, points[j].w, max(minimum, d))
        }
    }

    /// The densities of panel (b), against λ/λ_max (per unit log₁₀ λ on a log grid, per unit
    /// λ/λ_max on a linear one) on `grid.points` points from the lowest kernel's x − 4σ up to
    /// λ_max. The largest node is the largest Ritz value, the first to converge (Kaniel–Paige)
    /// and the axis' unit: the kernels are reflected there (Schuster 1985), so no mass is drawn
    /// above λ_max and none is lost.
    public static func densities(_ spectra: [Spectrum], grid: DensitySettings) -> [SpectralDensity] {
        let isLog = grid.scale == .log
        return spectra.map { s in
            let minimum = isLog ? grid.effectiveBroadening : grid.effectiveBroadening * linearSpan(s)
            let kernels = kernels(s, scale: grid.scale, minimum: minimum)
            let mass = support(s).reduce(0) { $0 + $1.w }
            let zero = support(s).filter { isZero($0.theta, s) }.reduce(0) { $0 + $1.w }
            let drawn = kernels.reduce(0) { $0 + $1.w }
            // Reflected at the largest node x_max (1 on λ/λ_max), whose mass would otherwise spill past λ_max.
            guard let lo = kernels.map({ $0.x - 4 * $0.sigma }).min(), let hi = kernels.map(\.x).max() else {
                return SpectralDensity(scale: grid.scale, grid: [], density: [], broadening: minimum, zeroMass: zero, negativeMass: mass - zero - drawn)
            }
            let n = max(grid.points, 2)
            let xs = (0..<n).map { lo + (hi - lo) * Double($0) / Double(n - 1) }
            let rho = xs.map { x in
                kernels.reduce(0.0) { acc, k in
                    let z = (x - k.x) / k.sigma, r = (2 * hi - x - k.x) / k.sigma
                    let g = (z * z > 80 ? 0 : exp(-0.5 * z * z)) + (r * r > 80 ? 0 : exp(-0.5 * r * r))
                    return acc + k.w * g / (k.sigma * (2 * Double.pi).squareRoot())
                }
            }
            return SpectralDensity(scale: grid.scale, grid: isLog ? xs.map { pow(10, $0) } : xs, density: rho, broadening: minimum,
                                   zeroMass: zero, negativeMass: max(mass - zero - drawn, 0))
        }
    }

    /// The figure: (a) the staircases, (b) the densities with their common σ; `what` names the
    /// matrix ("G"), `method` the estimate ("SLQ, 10 probes × 20 Lanczos steps").
    public static func svg(_ spectra: [Spectrum], grid: DensitySettings, what: String, method: String) -> String {
        let isLog = grid.scale == .log
        let densities = densities(spectra, grid: grid)
        var ranked = [SeriesPlot.Curve](), smooth = [SeriesPlot.Curve]()
        for (s, d) in zip(spectra, densities) {
            var label = "step \(s.step): λ_max ≈ " + String(format: "%.4g", s.lambdaMax)
            if isLog, d.zeroMass + d.negativeMass >= 5e-4 { label += String(format: ", zero mass %.3f", d.zeroMass) }
            if isLog, d.negativeMass >= 5e-4 { label += String(format: ", λ < 0: %.3f", d.negativeMass) }
            let (x, y) = staircase(s, scale: grid.scale)
            ranked.append(SeriesPlot.Curve(label: label, x: x, y: y, dots: false))
            smooth.append(SeriesPlot.Curve(label: label, x: d.grid, y: d.density, dots: false))
        }
        let floor = isLog ? String(format: "≥ %.2g decade", grid.effectiveBroadening) : String(format: "≥ %.2g%% of span", 100 * grid.effectiveBroadening)
        return SeriesPlot.svg(title: "spectrum of \(what) through training: \(method) (Cowlagi & Chaudhari Fig. 2)", panels: [
            SeriesPlot.Panel(title: "(a) eigenvalues by rank: SLQ nodes and weights, unbroadened", curves: ranked, logY: isLog,
                             xLabel: "fraction of eigenvalues ≥ λ (rank i / P)", yLabel: "λ / λ_max"),
            SeriesPlot.Panel(title: "(b) density: σ_j = distance to n_v-th nearest node, \(floor)", curves: smooth, density: true, logX: isLog,
                             xLabel: "λ / λ_max", yLabel: isLog ? "density per unit log₁₀ λ" : "density per unit λ / λ_max"),
        ], xLabel: "λ / λ_max", columns: 2)
    }

    /// `spectra.csv`: the densities of panel (b), `step,lambda_over_lambda_max,density`.
    public static func densityCSV(_ spectra: [Spectrum], grid: DensitySettings) -> String {
        var csv = "step,lambda_over_lambda_max,density\n"
        for (s, d) in zip(spectra, densities(spectra, grid: grid)) {
            for (x, y) in zip(d.grid, d.density) { csv += "\(s.step),\(x),\(y)\n" }
        }
        return csv
    }

    /// `spectra-nodes.csv`: the measure behind both panels, one row per node that carries
    /// weight, descending: `step,lambda,weight,lambda_over_lambda_max,fraction_at_or_above,sigma`
    /// with σ_j of panel (b) in decades of λ (log grid) or units of λ_max (linear grid), empty
    /// for a node not drawn there (zero, or negative on a log grid).
    public static func nodesCSV(_ spectra: [Spectrum], grid: DensitySettings) -> String {
        let isLog = grid.scale == .log
        var csv = "step,lambda,weight,lambda_over_lambda_max,fraction_at_or_above," + (isLog ? "sigma_log10_lambda" : "sigma_lambda_over_lambda_max") + "\n"
        for s in spectra {
            let minimum = isLog ? grid.effectiveBroadening : grid.effectiveBroadening * linearSpan(s)
            let kernels = kernels(s, scale: grid.scale, minimum: minimum)
            var mass = 0.0, k = kernels.count - 1
            for (theta, w) in support(s).sorted(by: { $0.theta > $1.theta }) {
                mass += w
                var sigma = ""
                if !isZero(theta, s) && (!isLog || theta > 0), k >= 0 { sigma = "\(kernels[k].sigma)"; k -= 1 }
                csv += "\(s.step),\(theta),\(w),\(theta / s.lambdaMax),\(mass),\(sigma)\n"
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
