// wisp-bench kpm-vs-slq: stochastic Lanczos quadrature against the kernel polynomial method at
// matched operator-application budgets, on the same probes, for
//   1. the default Karakida network (L = 3, ReLU, σ_w² = 2, M = T = 512, C = 1), measured on
//      K = (1/T) J Jᵀ in sample space (N = TC = 512; F's density is s·ρ_K + (1 − s)δ₀ for both
//      methods alike, so comparing ρ_K compares ρ_F), with the exact eigenvalues from the dense K;
//   2. a synthetic sloppy spectrum: N = 8192 eigenvalues log-uniform over 10⁻⁶ … 10³ (nine
//      decades) plus three outliers at 10⁴, 2·10⁴, 5·10⁴, rotated by a random orthogonal
//      butterfly so that the probes are not exact (exact moments known from the eigenvalues).
// For each case and budget B: SLQ with n_v probes × B/n_v steps, KPM with n_v probes × 2B/n_v
// moments (Jackson), and KPM after deflating the top 3 pairs with the moments reduced so the
// total (bounds + deflation + moments) stays within B. Reports cost, the first four moments'
// errors against the exact traces, the L1 distance between the densities (and to the exact
// spectrum broadened like SLQ), and an SVG overlay per case.

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
    /// |estimate − exact| / exact.
    var momentRelativeErrors: [Double]
    var zeroMass: Double
    var boundsUpper: Double?
    /// Per unit log₁₀ λ on `grid`.
    var grid: [Double]
    var density: [Double]
    var l1ToExact: Double
}

struct CaseReport: Codable {
    var name: String
    var description: String
    var dimension: Int
    var exactMoments: [Double]
    var budget: Int
    var runs: [MethodRun]
    /// L1 distance between each KPM run and the SLQ run (∫|ρ₁ − ρ₂| d log₁₀ λ + |zero₁ − zero₂|).
    var l1ToSLQ: [String: Double]
    var svg: String
}

struct KPMBenchReport: Codable {
    var date: String
    var command: String
    var note: String
    var cases: [CaseReport]
    var totalSeconds: Double
}

/// A density as a function of x = log₁₀ λ (0 outside its grid), by linear interpolation.
func logDensity(_ d: SpectralDensity) -> (Double) -> Double {
    let xs = d.grid.map { log10($0) }, ys = d.density
    return { x in
        guard let first = xs.first, let last = xs.last, x >= first, x <= last else { return 0 }
        var lo = 0, hi = xs.count - 1
        while hi - lo > 1 { let mid = (lo + hi) / 2; if xs[mid] <= x { lo = mid } else { hi = mid } }
        let t = xs[hi] > xs[lo] ? (x - xs[lo]) / (xs[hi] - xs[lo]) : 0
        return ys[lo] + t * (ys[hi] - ys[lo])
    }
}

/// ∫|ρ_a − ρ_b| d log₁₀ λ over the union of both grids (trapezoid, 4000 points) plus the
/// difference of the masses neither draws (zero and negative mass).
func l1Distance(_ a: SpectralDensity, _ b: SpectralDensity) -> Double {
    let lo = min(log10(a.grid.first!), log10(b.grid.first!)), hi = max(log10(a.grid.last!), log10(b.grid.last!))
    let fa = logDensity(a), fb = logDensity(b)
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

func overlaySVG(title: String, curves: [(label: String, color: String, density: SpectralDensity)], zeroNote: String) -> String {
    let (w, h) = (760.0, 440.0)
    let (left, right, top, bottom) = (70.0, 20.0, 40.0, 50.0)
    let xs = curves.flatMap { $0.density.grid.map { log10($0) } }
    let xMin = xs.min() ?? 0, xMax = max(xs.max() ?? 1, xMin + 1e-9)
    let yMax = max(curves.flatMap(\.density.density).max() ?? 1, 1e-300)
    func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * (w - left - right) }
    func py(_ y: Double) -> Double { h - bottom - max(y, 0) / yMax * (h - top - bottom) }
    var s = """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="12">
    <rect width="100%" height="100%" fill="white"/>
    <text x="\(w / 2)" y="22" text-anchor="middle" font-size="14">\(title)</text>
    <line x1="\(left)" y1="\(h - bottom)" x2="\(w - right)" y2="\(h - bottom)" stroke="black"/>
    <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(h - bottom)" stroke="black"/>

    """
    for e in Int(ceil(xMin))...max(Int(ceil(xMin)), Int(floor(xMax))) {
        s += "<line x1=\"\(px(Double(e)))\" y1=\"\(h - bottom)\" x2=\"\(px(Double(e)))\" y2=\"\(h - bottom + 5)\" stroke=\"black\"/>"
        s += "<text x=\"\(px(Double(e)))\" y=\"\(h - bottom + 18)\" text-anchor=\"middle\">1e\(e)</text>\n"
    }
    for i in 0...4 {
        let v = yMax * Double(i) / 4
        s += "<text x=\"\(left - 6)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>\n"
    }
    s += "<text x=\"\(w / 2)\" y=\"\(h - 10)\" text-anchor=\"middle\">eigenvalue λ (log scale)</text>\n"
    s += "<text transform=\"translate(16 \(h / 2)) rotate(-90)\" text-anchor=\"middle\">density per unit log10 λ</text>\n"
    for (i, c) in curves.enumerated() {
        let points = zip(c.density.grid, c.density.density).map { String(format: "%.2f,%.2f", px(log10($0)), py($1)) }.joined(separator: " ")
        s += "<polyline fill=\"none\" stroke=\"\(c.color)\" stroke-width=\"1.5\" points=\"\(points)\"/>\n"
        let y = top + 14 + 16 * Double(i)
        s += "<line x1=\"\(w - right - 340)\" y1=\"\(y - 4)\" x2=\"\(w - right - 315)\" y2=\"\(y - 4)\" stroke=\"\(c.color)\" stroke-width=\"2\"/>"
        s += "<text x=\"\(w - right - 310)\" y=\"\(y)\">\(c.label) (zero mass \(String(format: "%.3f", c.density.zeroMass)))</text>\n"
    }
    s += "<text x=\"\(left + 6)\" y=\"\(top - 4)\" font-size=\"11\">\(zeroNote)</text>\n</svg>\n"
    return s
}

func runKPMvsSLQ(_ args: [String]) {
    var output = "bench/results/kpm-vs-slq"
    var budgets = [640, 2560]
    var probes = 10
    var width = 512
    var i = 0
    while i < args.count {
        let a = args[i]
        func value() -> String { i += 1; guard i < args.count else { fail("\(a) needs a value") }; return args[i] }
        switch a {
        case "--output": output = value()
        case "--budgets": budgets = value().split(separator: ",").compactMap { Int($0) }
        case "--probes": probes = Int(value()) ?? probes
        case "--width": width = Int(value()) ?? width
        case "-h", "--help":
            print("usage: wisp-bench kpm-vs-slq [--budgets 640,2560] [--probes 10] [--width 512] [--output bench/results/kpm-vs-slq]")
            exit(0)
        default: fail("unknown argument '\(a)' (try --help)")
        }
        i += 1
    }
    let start = now()
    var cases = [CaseReport]()
    do {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        // Case 1: the default Karakida network in sample space.
        var c = ProblemConfiguration()
        c.width = width
        c.samples = width
        let problem = try Problem(c)
        let ntk = try problem.makeOperator(.ntk)
        let N1 = ntk.dimension
        let gram = problem.gramRows()
        let exact1 = try LAPACK.symmetricEigen(gram, n: N1).values
        // Case 2: the sloppy diagonal.
        let bulk = (0..<8189).map { pow(10, -6 + 9 * (Double($0) + 0.5) / 8189) }
        let sloppy = bulk + [1e4, 2e4, 5e4]
        let cases0: [(String, String, any LinearOperator, [Double])] = [
            ("karakida-default", "K = (1/T) J Jᵀ of the default network (L=3, ReLU, σ_w²=2, M=T=\(width), C=1), N = TC = \(N1)", ntk, exact1),
            ("sloppy-synthetic", "Q D Qᵀ, N = 8192, Q a random orthogonal butterfly: 8189 eigenvalues log-uniform over 1e-6…1e3 plus 1e4, 2e4, 5e4", RotatedDiagonalOperator(sloppy, seed: 1), sloppy),
        ]
        for (name, description, op, exact) in cases0 {
            let N = op.dimension
            let exactMoments = (1...4).map { p in exact.reduce(0) { $0 + pow($1, Double(p)) } / Double(N) }
            let grid = DensitySettings()
            let exactDensity = try SpectralDensity(nodes: exact, weights: [Double](repeating: 1 / Double(N), count: N), settings: grid)
            for budget in budgets {
                say("\(name), budget \(budget) applications:")
                var runs = [MethodRun]()
                var densities = [String: SpectralDensity]()
                func record(_ label: String, _ method: String, _ stepsOrMoments: Int, _ deflate: Int, _ apps: Int, _ seconds: Double,
                            _ moments: [Estimate], _ density: SpectralDensity, _ upper: Double?) {
                    let rel = zip(moments, exactMoments).map { abs($0.mean - $1) / abs($1) }
                    let l1 = l1Distance(density, exactDensity)
                    runs.append(MethodRun(label: label, method: method, probes: probes, stepsOrMoments: stepsOrMoments, deflate: deflate,
                                          operatorApplications: apps, seconds: seconds, moments: moments.map(\.mean),
                                          momentStandardErrors: moments.map(\.standardError), momentRelativeErrors: rel,
                                          zeroMass: density.zeroMass, boundsUpper: upper, grid: density.grid, density: density.density,
                                          l1ToExact: l1))
                    densities[label] = density
                    say("  " + padR(label, 26) + pad("\(apps)", 6) + " apps " + pad(f(seconds, 2), 7) + " s   rel. errors of tr(A^p)/N: "
                        + rel.map { String(format: "%.1e", $0) }.joined(separator: " ") + "   zero mass " + f(density.zeroMass, 3)
                        + "   L1 to exact " + f(l1, 3))
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
                                                 boundSteps: boundSteps, positiveSemidefinite: true)
                record("KPM \(probes)x\(moments) jackson", "kpm", moments, 0, timedKPM.applications, now() - t,
                       (1...4).map { kpm.powerMoment($0) }, try SpectralDensity(expansion: kpm.expansion, settings: grid),
                       kpm.expansion.bounds.upper)
                // KPM after deflating the top 3 pairs; the deflation's cost comes out of the moments.
                // A first (untimed) Lanczos run counts the deflation's applications.
                let probe = TimedOperator(op)
                _ = try Lanczos.solve(probe, settings: LanczosSettings(count: 3, tolerance: 1e-8, seed: 0))
                t = now()
                let timedDeflated = TimedOperator(op)
                let left = budget - boundSteps - probe.applications
                let dm = max(8, 2 * (left / probes))
                let deflated = try KPMMeasurement.run(timedDeflated, settings: KPMSettings(probes: probes, moments: dm, seed: 0), deflate: 3,
                                                      boundSteps: boundSteps, positiveSemidefinite: true)
                let deflatedSeconds = now() - t
                var dDensity = try SpectralDensity(expansion: deflated.expansion, settings: grid)
                // The deflated pairs are point masses 1/N each: drawn as SLQ draws nodes (0.05-decade Gaussians).
                let outliers = try SpectralDensity(nodes: deflated.deflated.map(\.eigenvalue),
                                                   weights: deflated.deflated.map(\.mass), settings: grid)
                let fo = logDensity(outliers), fd = logDensity(dDensity)
                let lo = min(dDensity.grid.first!, outliers.grid.first ?? dDensity.grid.first!)
                let hi = max(dDensity.grid.last!, outliers.grid.last ?? dDensity.grid.last!)
                let xs = (0..<grid.points).map { log10(lo) + (log10(hi) - log10(lo)) * Double($0) / Double(grid.points - 1) }
                dDensity = SpectralDensity(scale: .log, grid: xs.map { pow(10, $0) }, density: xs.map { fd($0) + fo($0) },
                                           broadening: dDensity.broadening, zeroMass: dDensity.zeroMass, negativeMass: dDensity.negativeMass)
                record("KPM \(probes)x\(dm) deflate 3", "kpm", dm, 3, timedDeflated.applications, deflatedSeconds,
                       (1...4).map { deflated.powerMoment($0) }, dDensity, deflated.expansion.bounds.upper)
                let svgName = "\(name)-\(budget).svg"
                let svg = overlaySVG(title: "\(name): SLQ vs KPM at \(budget) operator applications (\(probes) probes)",
                                     curves: [("exact (0.05-decade Gaussians)", "#999999", exactDensity),
                                              (runs[0].label, "#1f5fa8", densities[runs[0].label]!),
                                              (runs[1].label, "#c0392b", densities[runs[1].label]!),
                                              (runs[2].label, "#27ae60", densities[runs[2].label]!)],
                                     zeroNote: "zero mass = mass below KPM's resolution at λ = 0 (not drawn)")
                try svg.write(toFile: output + "/" + svgName, atomically: true, encoding: .utf8)
                let l1 = Dictionary(uniqueKeysWithValues: runs.dropFirst().map { ($0.label, l1Distance(densities[$0.label]!, slqDensity)) })
                for (k, v) in l1.sorted(by: { $0.key < $1.key }) { say("  L1(\(k), SLQ) = \(f(v, 3))") }
                cases.append(CaseReport(name: name, description: description, dimension: N, exactMoments: exactMoments, budget: budget,
                                        runs: runs, l1ToSLQ: l1, svg: svgName))
            }
        }
        let report = KPMBenchReport(
            date: ISO8601DateFormatter().string(from: Date()), command: CommandLine.arguments.joined(separator: " "),
            note: "2-core machine shared with other jobs: timings are noisy; operator applications are exact",
            cases: cases, totalSeconds: now() - start)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: output + "/kpm-vs-slq.json"))
        say("wrote \(output)/kpm-vs-slq.json and \(cases.count) SVG overlays (total \(f(now() - start, 1)) s)")
    } catch {
        fail("kpm-vs-slq: \(error)")
    }
}
