import Foundation

/// The infinite-width neural tangent kernel of a network in the NTK parametrization (Jacot,
/// Gabriel & Hongler 2018, the kernel whose Gram matrix Jacot et al. 2019 use for the moments of
/// the Gauss–Newton part I, Proposition 1), for u^l = (σ_w/√n_(l−1)) W^l h^(l−1) + β b^l:
///
///     Σ¹(x, x') = σ_w² xᵀx'/n₀ + β²,
///     Σˡ = σ_w² E[φ(u) φ(u')] + β²,   Σ̇ˡ = σ_w² E[φ'(u) φ'(u')],   (u, u') ~ N(0, Σ^(l−1) on {x, x'}),
///     Θ¹ = Σ¹,   Θˡ = Θ^(l−1) Σ̇ˡ + Σˡ,   l = 2…L,
///
/// (β² terms only with biases). The network's empirical kernel J Jᵀ (over samples and outputs)
/// tends to Θᴸ ⊗ I_C as the widths grow, so Wisp's K = (1/T) J Jᵀ tends to (Θᴸ/T) ⊗ I_C and
/// tr(Kᵖ) → C tr((Θᴸ/T)ᵖ) — constant during training (the NTK is fixed in this limit).
///
/// The expectations are tensor-product Gauss–Hermite rules on the 2 × 2 covariance of each
/// pair (order 48: ~1e-12 relative for smooth φ at variances ≤ 1, ~1e-7 at variance 8; see
/// ``ActivationMoments/automaticOrder(_:variance:)`` for the convergence rate). Cost: T(T+1)/2 pairs × (L−1) layers × n² evaluations of φ and φ' (n = `order`).
public enum LimitingNTK {
    /// Θᴸ on the T inputs `x` (T × d, row-major), T × T row-major.
    public static func gram(architecture a: Architecture, inputs x: [Double], samples T: Int, order: Int = 48) throws -> [Double] {
        guard a.parametrization == .ntk else {
            throw WispError.invalidConfiguration("the limiting NTK needs \(Setting.parametrization) ntk (the standard parametrization's kernel grows with the width)")
        }
        guard a.normalization == .none else {
            throw WispError.invalidConfiguration("the limiting NTK is implemented without normalization layers")
        }
        guard !a.hasMixedBias else {
            throw WispError.invalidConfiguration("the limiting NTK recursions assume every layer has a bias or none, with one σ_b²; this network's layers differ (layer biases \(a.layerBias)): not covered")
        }
        let d = a.inputDimension
        precondition(x.count == T * d)
        let rule = try GaussHermite.rule(order: order)
        let w2 = a.sigmaW2, b2 = a.everyLayerHasBias ? a.sigmaB2 : 0
        let phi = a.activation
        var sigma = [Double](repeating: 0, count: T * T)
        for i in 0..<T {
            for j in i..<T {
                var s = 0.0
                for k in 0..<d { s += x[i * d + k] * x[j * d + k] }
                sigma[i * T + j] = w2 * s / Double(d) + b2
                sigma[j * T + i] = sigma[i * T + j]
            }
        }
        // Fresh buffers for every layer's Σ, Σ̇ and Θ (no copy-on-write sharing between them:
        // with shared storage the release build of Swift 6.3 let writes to Σ̇ reach Θ).
        var theta = [Double](repeating: 0, count: T * T)
        theta.withUnsafeMutableBufferPointer { t in sigma.withUnsafeBufferPointer { t.baseAddress!.update(from: $0.baseAddress!, count: T * T) } }
        for _ in stride(from: 2, through: a.depth, by: 1) {
            var next = [Double](repeating: 0, count: T * T), dot = [Double](repeating: 0, count: T * T)
            for i in 0..<T {
                for j in i..<T {
                    let (e, ed) = expectations(rule, phi, sigma[i * T + i], sigma[j * T + j], sigma[i * T + j])
                    next[i * T + j] = w2 * e + b2; next[j * T + i] = next[i * T + j]
                    dot[i * T + j] = w2 * ed; dot[j * T + i] = dot[i * T + j]
                }
            }
            for n in 0..<(T * T) { theta[n] = theta[n] * dot[n] + next[n] }
            sigma = next
        }
        return theta
    }

    /// (E[φ(u)φ(v)], E[φ'(u)φ'(v)]) for centred Gaussian (u, v) with Var u = a, Var v = c,
    /// Cov = b: u = √a x, v = √c (ρ x + √(1−ρ²) y), ρ = b/√(ac) clamped to [−1, 1].
    static func expectations(_ rule: GaussHermite, _ phi: Activation, _ a: Double, _ c: Double, _ b: Double) -> (Double, Double) {
        let sa = a.squareRoot(), sc = c.squareRoot()
        let rho = sa > 0 && sc > 0 ? min(1, max(-1, b / (sa * sc))) : 0
        let r = ((1 - rho) * (1 + rho)).squareRoot()
        let n = rule.order
        var e = 0.0, ed = 0.0
        for i in 0..<n {
            let xi = rule.nodes[i]
            let u = sa * xi
            let (fu, du) = both(phi, u)
            var inner = 0.0, innerD = 0.0
            for j in 0..<n {
                let (fv, dv) = both(phi, sc * (rho * xi + r * rule.nodes[j]))
                inner += rule.weights[j] * fv
                innerD += rule.weights[j] * dv
            }
            e += rule.weights[i] * fu * inner
            ed += rule.weights[i] * du * innerD
        }
        return (e, ed)
    }

    @inline(__always)
    private static func both(_ phi: Activation, _ u: Double) -> (Double, Double) {
        var x = u, h = 0.0, d = 0.0
        phi.apply(&x, value: &h, derivative: &d, count: 1)
        return (h, d)
    }
}
