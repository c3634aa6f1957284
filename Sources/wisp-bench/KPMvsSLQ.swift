// wisp-bench kpm-vs-slq: stochastic Lanczos quadrature against the kernel polynomial method at
// matched operator-application budgets, on the same probes, for
//   1. the default Karakida network (L = 3, ReLU, σ_w² = 2, M = T = 512, C = 1), measured on
//      K = (1/T) J Jᵀ in sample space (N = TC = 512; F's density is s·ρ_K + (1 − s)δ₀ for both
//      methods alike, so comparing ρ_K compares ρ_F), with the exact eigenvalues from the dense K;
//   2. a synthetic sloppy spectrum: N = 8192 eigenvalues log-uniform over 10⁻⁶ … 10³ (nine
//      decades) plus three outliers at 10⁴, 2·10⁴, 5·10⁴, rotated by a random orthogonal
//      butterfly so that the probes are not exact (exact moments known from the eigenvalues);
//   3. K of a network trained on the digits (TrainedNetworkCase.swift), exact from the dense K;
//   4. the loss Hessian of that network (indefinite, linear grid, no exact spectrum);
//   5. K of a network trained on the diabetes table (regression, N = T = 442), exact.
// For each case and budget B: SLQ with n_v probes × B/n_v steps, KPM with n_v probes × 2B/n_v
// moments (Jackson), and KPM after deflating the top k pairs (k = 3, or C = 10 for the digits
// network) with the moments reduced so the total (bounds + deflation + moments) stays within B.
// Reports cost, the first four moments' errors against the exact traces, the L1 distance
// between the densities (and to the exact spectrum broadened like SLQ), and an SVG overlay per
// case.

import Foundation
import Wisp

/// Q diag(values) Qᵀ with Q a random orthogonal butterfly: log₂ N stages of Givens rotations of
/// the pairs (i, i + 2^s) with angles from a counter-based stream, so every eigenvector is
/// dense (a diagonal operator would make Rademacher probes exact: rᵀ D r = tr D). O(N log N)
/// per application; N must be a power of two.
final class RotatedDiagonalOperator: LinearOperator {
    let values: [Double]
    let space: VectorSpace
    private let cosines: [Double], sines: [Double]
    private let stages: Int
    private var work: [Double]

    init(_ values: [Double], seed: UInt64) {
        let n = values.count
        precondition(n > 1 && n & (n - 1) == 0, "N must be a power of two")
        self.values = values
        space = .replicated(n)
        stages = n.trailingZeroBitCount
        let random = CounterRandom(seed: seed, stream: .lanczosStart)
        let angles = (0..<(stages * n / 2)).map { 2 * Double.pi * (0.5 + 0.5 * erf(random.normal($0) / 2.0.squareRoot())) }
        cosines = angles.map { cos($0) }
        sines = angles.map { sin($0) }
        work = [Double](repeating: 0, count: n)
    }

    /// x ← Q x (forward) or Qᵀ x (stages reversed, angles negated).
    private func rotate(_ x: UnsafeMutablePointer<Double>, transpose: Bool) {
        let n = values.count
        for step in 0..<stages {
            let s = transpose ? stages - 1 - step : step
            let stride = 1 << s
            var pair = s * n / 2
            for i in 0..<n where i & stride == 0 {
                let j = i + stride
                let (c, sn) = (cosines[pair], transpose ? -sines[pair] : sines[pair])
                let (a, b) = (x[i], x[j])
                x[i] = c * a - sn * b
                x[j] = sn * a + c * b
                pair += 1
            }
        }
    }

    func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let n = values.count
        y.update(from: x, count: n)
        rotate(y, transpose: true)
        for i in 0..<n { y[i] *= values[i] }
        rotate(y, transpose: false)
    }
}

/// One comparison: an operator, its exact eigenvalues when known, and how to draw it.
struct BenchCase {
    var name: String
    var description: String
    var op: any LinearOperator
    /// All N eigenvalues; nil when no exact reference exists (no moment errors, no L1 to exact).
    var exact: [Double]?
    /// Whether KPM may take the lower bound 0 (F, K) or bounds it from Lanczos at both ends.
    var semidefinite: Bool
    /// Top pairs deflated in the third run; 0: no deflated run.
    var deflate: Int
    var grid: DensitySettings
}

struct MethodRun: Codable {
    var label: String
    var method: String
    var probes: Int
    /// SLQ steps or KPM moments.
    var stepsOrMoments: Int
    var deflate: Int
    var operatorApplications: Int
    var seconds: Double
    /// tr(Aᵖ)/N, p = 1…4, and standard errors over probes.
    var moments: [Double]
    var momentStandardErrors: [Double]
    /// |estimate − exact| / |exact| (nil without an exact reference).
    var momentRelativeErrors: [Double]?
    /// |estimate − SLQ's| / |SLQ's| on the same probes (KPM runs).
    var momentRelativeDifferencesToSLQ: [Double]?
    var zeroMass: Double
    var negativeMass: Double
    var boundsLower: Double?
    var boundsUpper: Double?
    /// Per unit log₁₀ λ (log grid) or per unit λ (linear grid) on `grid`.
    var grid: [Double]
    var density: [Double]
    var l1ToExact: Double?
}

struct CaseReport: Codable {
    var name: String
    var description: String
    var dimension: Int
    var gridScale: String
    /// tr(Aᵖ)/N, p = 1…4, from the exact eigenvalues (nil without them).
    var exactMoments: [Double]?
    /// The smallest and largest exact eigenvalue.
    var exactRange: [Double]?
    var budget: Int
    var runs: [MethodRun]
    /// L1 distance between each KPM run and the SLQ run (∫|ρ₁ − ρ₂| dx + |zero₁ − zero₂| + |neg₁ − neg₂|,
    /// x = log₁₀ λ or λ).
    var l1ToSLQ: [String: Double]
    /// W₁ = ∫|F_KPM(λ) − F_SLQ(λ)| dλ between the cumulative distributions of the undeflated KPM
    /// expansion and SLQ's pooled Gauss rule (linear grids): free of either method's broadening.
    var wassersteinKPMToSLQ: Double?
    var svg: String
    var training: TrainingSummary?
}

struct KPMBenchReport: Codable {
    var date: String
    var command: String
    var note: String
    var cases: [CaseReport]
    var totalSeconds: Double
}

/// The abscissa a density is drawn against: log₁₀ λ on a log grid, λ on a linear one.
func axis(_ d: SpectralDensity) -> [Double] { d.scale == .log ? d.grid.map { log10($0) } : d.grid }

/// A density as a function of its abscissa x (0 outside its grid), by linear interpolation.
func interpolated(_ d: SpectralDensity) -> (Double) -> Double {
    let xs = axis(d), ys = d.density
    return { x in
        guard let first = xs.first, let last = xs.last, x >= first, x <= last else { return 0 }
        var lo = 0, hi = xs.count - 1
        while hi - lo > 1 { let mid = (lo + hi) / 2; if xs[mid] <= x { lo = mid } else { hi = mid } }
        let t = xs[hi] > xs[lo] ? (x - xs[lo]) / (xs[hi] - xs[lo]) : 0
        return ys[lo] + t * (ys[hi] - ys[lo])
    }
}

/// ∫|ρ_a − ρ_b| dx over the union of both grids (trapezoid, 4000 points; x = log₁₀ λ or λ, the
/// two densities on the same scale) plus the difference of the masses neither draws (zero and
/// negative mass).
func l1Distance(_ a: SpectralDensity, _ b: SpectralDensity) -> Double {
    precondition(a.scale == b.scale, "densities on different scales")
    let xa = axis(a), xb = axis(b)
    let lo = min(xa.first!, xb.first!), hi = max(xa.last!, xb.last!)
    let fa = interpolated(a), fb = interpolated(b)
    let n = 4000
    var total = 0.0, previous = 0.0
    for i in 0..<n {
        let x = lo + (hi - lo) * Double(i) / Double(n - 1)
        let v = abs(fa(x) - fb(x))
        if i > 0 { total += (v + previous) / 2 * (hi - lo) / Double(n - 1) }
        previous = v
    }
    return total + abs(a.zeroMass - b.zeroMass) + abs(a.negativeMass - b.negativeMass)
}

/// W₁ = ∫|F_a(λ) − F_b(λ)| dλ between the discrete measure Σ w_j δ(λ − θ_j) and a KPM
/// expansion (its cumulative ``ChebyshevDensity/cumulative(_:)``), on 4000 points spanning both
/// (trapezoid). Needs no broadening, unlike the L1 distance of two drawn densities. Cost O(4000·M).
func wassersteinDistance(nodes: [Double], weights: [Double], _ e: ChebyshevDensity) -> Double {
    let order = nodes.indices.sorted { nodes[$0] < nodes[$1] }
    let lo = min(e.bounds.lower, nodes.min() ?? e.bounds.lower), hi = max(e.bounds.upper, nodes.max() ?? e.bounds.upper)
    let n = 4000, dx = (hi - lo) / Double(n - 1)
    var j = 0, mass = 0.0, total = 0.0, previous = 0.0
    for i in 0..<n {
        let x = lo + dx * Double(i)
        while j < order.count, nodes[order[j]] <= x { mass += weights[order[j]]; j += 1 }
        let v = abs(mass - e.cumulative(x))
        if i > 0 { total += (v + previous) / 2 * dx }
        previous = v
    }
    return total
}

/// The overlay of one case at one budget with the CLI's plot (``DensityFiles/svg(curves:title:markers:note:logDensity:decades:)``:
/// 1-2-5 or decade ticks, densities from 0, the legend in the emptiest corner): the exact density
/// (grey, broadened like SLQ) when known, SLQ, KPM and deflated KPM; λ_max (the exact one, else
/// the largest SLQ node, a lower bound) and each deflated eigenvalue marked as a labelled line.
/// On a linear grid (the Hessian) the density axis is logarithmic over 8 decades, so that its
/// isolated outliers of mass 1/P show beside the spike at 0.
func comparisonSVG(_ c: BenchCase, budget: Int, probes: Int, exact: SpectralDensity?, runs: [(label: String, density: SpectralDensity)],
                   largestNode: Double, deflated: [Double]) -> String {
    let log = c.grid.scale == .log
    let colors = ["#1f5fa8", "#c0392b", "#27ae60"]
    func label(_ name: String, _ d: SpectralDensity) -> String { log && d.zeroMass >= 5e-4 ? name + ", zero mass " + String(format: "%.3f", d.zeroMass) : name }
    var curves = exact.map { [DensityFiles.Curve(label: label(log ? "exact (0.05-decade Gaussians)" : "exact", $0), density: $0, color: "#888888")] } ?? []
    curves += runs.enumerated().map { DensityFiles.Curve(label: label($1.label, $1.density), density: $1.density, color: colors[$0 % colors.count],
                                                         dashed: $0 > 0) }
    // λ_max and the deflated pairs; the first deflated eigenvalue is λ_max itself when it agrees to 10⁻⁶.
    let top = c.exact?.max() ?? largestNode, name = c.exact != nil ? "λ_max" : "largest SLQ node"
    var markers = deflated.enumerated().map { (label: "deflated \($0.offset + 1)", value: $0.element) }
    if let i = markers.firstIndex(where: { abs($0.value - top) <= 1e-6 * abs(top) }) {
        markers[i].label = name + ", " + markers[i].label
    } else {
        markers.insert((name, top), at: 0)
    }
    return DensityFiles.svg(curves: curves, title: "\(c.name): SLQ vs KPM at \(budget) operator applications (\(probes) probes)", markers: markers,
                            note: log ? "zero mass: below KPM's resolution at λ = 0, not drawn" : "SLQ nodes broadened by 1% of their span; KPM (Jackson) at its own resolution",
                            logDensity: !log)
}

/// SLQ, KPM and (if `c.deflate` > 0) deflated KPM on `c` at one budget, on the same probes;
/// writes the overlay `<name>-<budget>.svg` into `output`.
func compare(_ c: BenchCase, budget: Int, probes: Int, output: String) throws -> CaseReport {
    let op = c.op, N = op.dimension, grid = c.grid
    let exactMoments = c.exact.map { exact in (1...4).map { p in exact.reduce(0) { $0 + pow($1, Double(p)) } / Double(N) } }
    let exactDensity = try c.exact.map { try SpectralDensity(nodes: $0, weights: [Double](repeating: 1 / Double(N), count: N), settings: grid) }
    say("\(c.name), budget \(budget) applications:")
    var runs = [MethodRun]()
    var densities = [String: SpectralDensity]()
    func record(_ label: String, _ method: String, _ stepsOrMoments: Int, _ deflate: Int, _ apps: Int, _ seconds: Double,
                _ moments: [Estimate], _ density: SpectralDensity, _ bounds: SpectralBounds?) {
        let rel = exactMoments.map { zip(moments, $0).map { abs($0.mean - $1) / abs($1) } }
        let toSLQ = runs.first.map { slq in zip(moments, slq.moments).map { abs($0.mean - $1) / abs($1) } }
        let l1 = exactDensity.map { l1Distance(density, $0) }
        runs.append(MethodRun(label: label, method: method, probes: probes, stepsOrMoments: stepsOrMoments, deflate: deflate,
                              operatorApplications: apps, seconds: seconds, moments: moments.map(\.mean),
                              momentStandardErrors: moments.map(\.standardError), momentRelativeErrors: rel,
                              momentRelativeDifferencesToSLQ: toSLQ, zeroMass: density.zeroMass, negativeMass: density.negativeMass,
                              boundsLower: bounds?.lower, boundsUpper: bounds?.upper, grid: density.grid, density: density.density,
                              l1ToExact: l1))
        densities[label] = density
        let errors = rel.map { "rel. errors of tr(A^p)/N: " + $0.map { String(format: "%.1e", $0) }.joined(separator: " ") }
            ?? "moments " + moments.map { String(format: "%.4g", $0.mean) }.joined(separator: " ")
        say("  " + padR(label, 26) + pad("\(apps)", 6) + " apps " + pad(f(seconds, 2), 7) + " s   " + errors
            + (toSLQ.map { "   vs SLQ " + $0.map { String(format: "%.1e", $0) }.joined(separator: " ") } ?? "")
            + "   zero mass " + f(density.zeroMass, 3) + (l1.map { "   L1 to exact " + f($0, 3) } ?? ""))
    }
    // SLQ.
    let steps = budget / probes
    var t = now()
    let timedSLQ = TimedOperator(op)
    let slq = try StochasticLanczosQuadrature.run(timedSLQ, settings: SLQSettings(probes: probes, steps: steps, seed: 0))
    let (nodes, weights) = SpectralDensity.pooled(slq.rules)
    let slqDensity = try SpectralDensity(nodes: nodes, weights: weights, settings: grid)
    record("SLQ \(probes)x\(steps)", "slq", steps, 0, timedSLQ.applications, now() - t,
           (1...4).map { slq.normalizedMoment($0) }, slqDensity, nil)
    // KPM, same probes, moments for the same budget minus the bounding run.
    let boundSteps = 30
    let moments = 2 * ((budget - boundSteps) / probes)
    t = now()
    let timedKPM = TimedOperator(op)
    let kpm = try KPMMeasurement.run(timedKPM, settings: KPMSettings(probes: probes, moments: moments, seed: 0),
                                     boundSteps: boundSteps, positiveSemidefinite: c.semidefinite)
    record("KPM \(probes)x\(moments) jackson", "kpm", moments, 0, timedKPM.applications, now() - t,
           (1...4).map { kpm.powerMoment($0) }, try SpectralDensity(expansion: kpm.expansion, settings: grid), kpm.expansion.bounds)
    var deflatedPairs = [Double]()
    if c.deflate > 0 {
        // KPM after deflating the top pairs; the deflation's cost comes out of the moments.
        // A first (untimed) Lanczos run counts the deflation's applications.
        let probe = TimedOperator(op)
        _ = try Lanczos.solve(probe, settings: LanczosSettings(count: c.deflate, tolerance: 1e-8, seed: 0))
        t = now()
        let timedDeflated = TimedOperator(op)
        let left = budget - boundSteps - probe.applications
        let dm = max(8, 2 * (left / probes))
        let deflated = try KPMMeasurement.run(timedDeflated, settings: KPMSettings(probes: probes, moments: dm, seed: 0), deflate: c.deflate,
                                              boundSteps: boundSteps, positiveSemidefinite: c.semidefinite)
        let deflatedSeconds = now() - t
        deflatedPairs = deflated.deflated.map(\.eigenvalue)
        var dDensity = try SpectralDensity(expansion: deflated.expansion, settings: grid)
        if grid.scale == .log {
            // The deflated pairs are point masses 1/N each: drawn as SLQ draws nodes (0.05-decade Gaussians).
            let outliers = try SpectralDensity(nodes: deflated.deflated.map(\.eigenvalue),
                                               weights: deflated.deflated.map(\.mass), settings: grid)
            let fo = interpolated(outliers), fd = interpolated(dDensity)
            let lo = min(dDensity.grid.first!, outliers.grid.first ?? dDensity.grid.first!)
            let hi = max(dDensity.grid.last!, outliers.grid.last ?? dDensity.grid.last!)
            let xs = (0..<grid.points).map { log10(lo) + (log10(hi) - log10(lo)) * Double($0) / Double(grid.points - 1) }
            dDensity = SpectralDensity(scale: .log, grid: xs.map { pow(10, $0) }, density: xs.map { fd($0) + fo($0) },
                                       broadening: dDensity.broadening, zeroMass: dDensity.zeroMass, negativeMass: dDensity.negativeMass)
        }
        record("KPM \(probes)x\(dm) deflate \(c.deflate)", "kpm", dm, c.deflate, timedDeflated.applications, deflatedSeconds,
               (1...4).map { deflated.powerMoment($0) }, dDensity, deflated.expansion.bounds)
    }
    let svgName = "\(c.name)-\(budget).svg"
    try AtomicFile.write(Data(comparisonSVG(c, budget: budget, probes: probes, exact: exactDensity, runs: runs.map { ($0.label, densities[$0.label]!) },
                                            largestNode: nodes.max() ?? 0, deflated: deflatedPairs).utf8), to: output + "/" + svgName)
    let l1 = Dictionary(uniqueKeysWithValues: runs.dropFirst().map { ($0.label, l1Distance(densities[$0.label]!, slqDensity)) })
    for (k, v) in l1.sorted(by: { $0.key < $1.key }) { say("  L1(\(k), SLQ) = \(f(v, 3))") }
    var w1: Double? = nil
    if grid.scale == .linear {
        w1 = wassersteinDistance(nodes: nodes, weights: weights, kpm.expansion)
        say("  W1(KPM, SLQ) = \(String(format: "%.3g", w1!)) (spectral width \(String(format: "%.3g", kpm.expansion.bounds.upper - kpm.expansion.bounds.lower)))")
    }
    return CaseReport(name: c.name, description: c.description, dimension: N, gridScale: grid.scale.rawValue, exactMoments: exactMoments,
                      exactRange: c.exact.map { [$0.min()!, $0.max()!] },
                      budget: budget, runs: runs, l1ToSLQ: l1, wassersteinKPMToSLQ: w1, svg: svgName, training: nil)
}

func runKPMvsSLQ(_ args: [String]) {
    var output = "bench/results/kpm-vs-slq"
    var budgets = [640, 2560]
    var probes = 10
    var width = 512
    let allCases = ["network", "sloppy", "digits", "digits-hessian", "diabetes"]
    var wanted = Set(allCases)
    var digits = TrainedNetworkSettings.digits()
    var diabetes = TrainedNetworkSettings.diabetes()
    var i = 0
    while i < args.count {
        let a = args[i]
        func value() -> String { i += 1; guard i < args.count else { fail("\(a) needs a value") }; return args[i] }
        func int() -> Int { let v = value(); guard let n = Int(v), n > 0 else { fail("\(a) needs a positive integer (got '\(v)')") }; return n }
        switch a {
        case "--output": output = value()
        case "--budgets": budgets = value().split(separator: ",").compactMap { Int($0) }
        case "--probes": probes = int()
        case "--width": width = int()
        case "--cases":
            wanted = Set(value().split(separator: ",").map(String.init))
            if let bad = wanted.subtracting(allCases).first { fail("--cases: unknown case '\(bad)' (use \(allCases.joined(separator: ",")))") }
        case "--digits-images": digits.configuration.inputsPath = value()
        case "--digits-labels": digits.configuration.labelsPath = value()
        case "--digits-samples": digits.configuration.samples = int()
        case "--digits-width": digits.configuration.width = int()
        case "--diabetes-csv": diabetes.configuration.inputsPath = value()
        case "--diabetes-width": diabetes.configuration.width = int()
        case "--train-steps": digits.steps = int(); diabetes.steps = digits.steps
        case "-h", "--help":
            print("""
            usage: wisp-bench kpm-vs-slq [--budgets 640,2560] [--probes 10] [--width 512] [--output bench/results/kpm-vs-slq]
                   [--cases network,sloppy,digits,digits-hessian,diabetes] [--digits-images FILE] [--digits-labels FILE]
                   [--digits-samples 400] [--digits-width 256] [--diabetes-csv FILE] [--diabetes-width 256] [--train-steps 300]
            """)
            exit(0)
        default: fail("unknown argument '\(a)' (try --help)")
        }
        i += 1
    }
    let start = now()
    var reports = [CaseReport]()
    do {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        var cases = [BenchCase]()
        if wanted.contains("network") {
            // The default Karakida network in sample space.
            var c = ProblemConfiguration()
            c.width = width
            c.samples = width
            let problem = try Problem(c)
            let ntk = try problem.makeOperator(.ntk)
            let exact = try LAPACK.symmetricEigen(problem.gramRows(), n: ntk.dimension).values
            cases.append(BenchCase(name: "karakida-default",
                                   description: "K = (1/T) J Jᵀ of the default network (L=3, ReLU, σ_w²=2, M=T=\(width), C=1), N = TC = \(ntk.dimension)",
                                   op: ntk, exact: exact, semidefinite: true, deflate: 3, grid: DensitySettings()))
        }
        if wanted.contains("sloppy") {
            let bulk = (0..<8189).map { pow(10, -6 + 9 * (Double($0) + 0.5) / 8189) }
            let sloppy = bulk + [1e4, 2e4, 5e4]
            cases.append(BenchCase(name: "sloppy-synthetic",
                                   description: "Q D Qᵀ, N = 8192, Q a random orthogonal butterfly: 8189 eigenvalues log-uniform over 1e-6…1e3 plus 1e4, 2e4, 5e4",
                                   op: RotatedDiagonalOperator(sloppy, seed: 1), exact: sloppy, semidefinite: true, deflate: 3,
                                   grid: DensitySettings()))
        }
        var training = [String: TrainingSummary]()
        if wanted.contains("digits") || wanted.contains("digits-hessian") {
            let (real, summary) = try trainedCases(digits, hessian: wanted.contains("digits-hessian"))
            cases += real.filter { wanted.contains($0.name == "digits-trained" ? "digits" : "digits-hessian") }
            for c in real { training[c.name] = summary }
        }
        if wanted.contains("diabetes") {
            let (real, summary) = try trainedCases(diabetes, hessian: false)
            cases += real
            for c in real { training[c.name] = summary }
        }
        for c in cases {
            for budget in budgets {
                var report = try compare(c, budget: budget, probes: probes, output: output)
                report.training = training[c.name]
                reports.append(report)
            }
        }
        let report = KPMBenchReport(
            date: ISO8601DateFormatter().string(from: Date()), command: CommandLine.arguments.joined(separator: " "),
            note: "2-core machine shared with other jobs: timings are noisy; operator applications are exact",
            cases: reports, totalSeconds: now() - start)
        try AtomicFile.write(try CanonicalJSON.encode(report, pretty: true), to: output + "/kpm-vs-slq.json")
        say("wrote \(output)/kpm-vs-slq.json and \(reports.count) SVG overlays (total \(f(now() - start, 1)) s)")
    } catch {
        fail("kpm-vs-slq: \(error)")
    }
}
