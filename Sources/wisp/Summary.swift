import Foundation
import Wisp

/// The human-readable lines every subcommand prints.
enum Summary {
    static func header(_ p: Problem) -> String {
        let a = p.architecture
        let c = p.configuration
        let hidden = a.widths.dropFirst().dropLast()
        let widths = Set(hidden).count == 1 ? "M=\(hidden.first!)" : "widths \(Array(hidden))"
        var data = c.inputsPath.map { "inputs \($0)" } ?? "Gaussian inputs"
        if let targets = p.targetsSource { data += ", targets \(targets)" }
        return """
        Wisp \(wispVersionAndCommit)
          network    L=\(a.depth), \(widths), d=\(a.inputDimension), C=\(a.outputs), \(a.activation.rawValue), \
        σ_w²=\(a.sigmaW2), σ_b²=\(a.sigmaB2), \(a.everyLayerHasBias ? "biases" : a.anyLayerHasBias ? "biases in layers \((1...a.depth).filter(a.hasBias).map(String.init).joined(separator: ","))" : "no biases"), \(a.parametrization.rawValue) parametrization\
        \(a.normalization == .none ? "" : ", normalization \(a.normalization.rawValue)")
          data       T=\(p.totalSamples), \(data), seed \(c.seed), \(c.precision.rawValue)
          P          \(p.parameterCount) parameters (TC = \(p.sampleSpaceDimension))
        """
    }

    /// The `--save-eigenvectors` line of `top`.
    static func eigenvectors(_ e: EigenvectorReport) -> String {
        String(format: "  vectors    %d written to %@ (%@ space, %.2f s), orthogonality %.1e, worst relative residual %.1e%@", e.written.count,
               e.file, e.space, e.seconds, e.orthogonality, e.relativeResiduals.max() ?? 0,
               e.unmapped.isEmpty ? "" : "; not mapped (λ ≈ 0): \(e.unmapped)")
    }

    static func timing(_ t: Timings) -> String {
        String(format: "  time       %.2f s (operator %.2f s over %d applications), peak memory %@", t.totalSeconds,
               t.operatorSeconds, t.operatorApplications, ResourceUsage.format(bytes: ResourceUsage.peakResidentBytes()))
    }

    static func density(_ r: DensityResult) -> String {
        if let values = r.exactEigenvalues {
            var s = String(format: "  density    exact, %d eigenvalues of the sample-space matrix, λ_max %.10e; zero mass %.6f",
                           values.count, values.first ?? 0, r.density.zeroMass)
            for m in r.moments { s += String(format: "\n  tr(%@^%d)/P  %.10e   (exact)", r.densityOf, m.order, m.estimate) }
            return s
        }
        let s = "  density    SLQ, \(r.probes) probes × \(r.steps) steps in \(r.space) space; zero mass \(String(format: "%.6f", r.density.zeroMass))"
        return s + moments(r.moments, of: r.densityOf)
    }

    /// `wisp moments`: tr A, the mean eigenvalue, tr(A²)/P and, when every eigenvalue was
    /// computed, tr(Aᵖ)/P, each exact or with its Hutchinson standard error.
    static func moments(_ result: MomentsResult, probes: Int) -> String {
        let a = ["ggn": "G", "hessian": "H", "residual": "S"][result.matrix.rawValue] ?? "F"
        func label(_ s: String) -> String { s.padding(toLength: 10, withPad: " ", startingAt: 0) }
        var lines: [String] = []
        if result.traceStandardError > 0 {
            lines.append(String(format: "  %@ %.6e ± %.2e  (Hutchinson, %d probes)", label("tr \(a)"), result.trace, result.traceStandardError, probes))
            lines.append(String(format: "  mean λ     %.6e  (tr \(a) / P)", result.meanEigenvalue))
        } else {
            lines.append(String(format: "  %@ %.10e  (exact)", label("tr \(a)"), result.trace))
            lines.append(String(format: "  mean λ     %.10e  (exact, tr \(a) / P)", result.meanEigenvalue))
        }
        if result.probes != nil {
            lines.append(String(format: "  %@ %.6e ± %.2e  (Hutchinson, %d probes)", label("tr(\(a)²)/P"), result.secondMoment, result.secondMomentStandardError, probes))
        } else {
            lines.append(String(format: "  %@ %.10e  (%@)", label("tr(\(a)²)/P"), result.secondMoment, result.secondMomentMethod))
        }
        for (p, m) in (result.powerMoments ?? []).enumerated() {
            lines.append(String(format: "  tr(%@^%d)/P %.10e  (exact, from every eigenvalue of %@)", a, p + 1, m, a == "G" ? "B K B" : "K"))
        }
        return lines.joined(separator: "\n")
    }

    /// A KPM density: its budget, bounds, deflated pairs and moments.
    static func kpm(_ r: KPMDensityResult) -> String {
        var s = "  density    KPM, \(r.probes) probes × \(r.chebyshevMomentCount) moments (\(r.kernel.rawValue)) in \(r.space) space; bounds ["
        s += String(format: "%.6g, %.6g] (%@); zero mass %.6f", r.bounds.lower, r.bounds.upper, r.bounds.source, r.density.zeroMass)
        for d in r.deflated {
            s += String(format: "\n  deflated   λ = %.10e   residual %.2e   mass %.3g", d.eigenvalue, d.residual, d.mass)
        }
        return s + moments(r.moments, of: r.densityOf)
    }

    /// Estimated moments tr(Aᵏ)/P of A (F, G, H or S) with their standard errors and, where known, the exact value.
    private static func moments(_ moments: [MomentRecord], of a: String) -> String {
        var s = ""
        for m in moments {
            s += String(format: "\n  tr(%@^%d)/P  %.6e ± %.2e", a, m.order, m.estimate, m.standardError)
            if let e = m.exact { s += String(format: "   (exact %.6e)", e) }
        }
        return s
    }

    /// An estimate against the exact spectrum: W₁ and moment errors.
    static func comparison(_ c: DensityComparison) -> String {
        var s = String(format: "  vs exact   W₁ %.4e (%.2e λ_max), W₁ on log₁₀ λ %.4f decades; zero mass %.6f (exact %.6f); exact spectrum in %.2f s",
                       c.wasserstein1, c.wasserstein1Relative, c.wasserstein1Log10, c.zeroMassEstimate, c.zeroMassExact, c.exactSeconds)
        for m in c.moments {
            s += String(format: "\n    tr(F^%d)/P relative error %+.3e", m.order, m.relativeError)
            if let z = m.standardErrors { s += String(format: " (%+.2f standard errors)", z) }
        }
        return s
    }

    /// The theory block: predictions and, where measured, the measured/predicted ratios.
    static func theory(_ t: TheoryBlock, detailed: Bool = false) -> String {
        guard t.covered else { return "  theory     not covered: \(t.reason ?? "")" }
        let names: [(String, String)] = [
            ("lambda_max", "λ_max"), ("lambda_max_finite_width", "λ_max (finite width)"),
            ("lambda_max_lower_bound", "λ_max lower bound"), ("lambda_max_upper_bound", "λ_max upper bound"),
            ("mean_eigenvalue", "m_λ"), ("mean_eigenvalue_finite_width", "m_λ (finite width)"), ("second_moment", "tr(F²)/P"),
        ] + (detailed ? [("kappa1", "κ₁"), ("kappa2", "κ₂"), ("alpha", "α"), ("lambda_max_multiplicity", "λ_max multiplicity")] : [])
        var lines = ["  theory     Karakida et al. mean field\(t.hypothesesHold == false ? " (hypotheses do not hold: \(t.reason ?? ""))" : "")"]
        for (key, label) in names {
            guard let p = t.predictions[key] else { continue }
            var line = "    " + label.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: " %.6e", p)
            if let r = t.measuredOverPredicted[key] { line += String(format: "   measured/predicted %.4f", r) }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
