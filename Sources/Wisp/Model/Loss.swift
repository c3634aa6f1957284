import RealModule

/// The per-sample loss ℓ(f, y) between a network output f ∈ ℝ^C and its target y; the
/// training objective is the mean L(θ) = (1/T) Σ_t ℓ(f(x_t), y_t).
///
/// Each loss gives its gradient r = ∂ℓ/∂f (the residual that weights the second derivatives of
/// the outputs in the Hessian's S part) and its output Hessian H_ℓ = ∂²ℓ/∂f² (the middle factor
/// of the Gauss–Newton matrix G = (1/T) Jᵀ H_ℓ J), Jacot et al. §3.1:
///
///     mse              ℓ = ½‖f − y‖²                        r = f − y           H_ℓ = I
///     cross-entropy    ℓ = −Σ_k y_k log p_k, p = softmax(f)  r = (Σ_k y_k) p − y  H_ℓ = (Σ_k y_k)(diag p − p pᵀ)
///     bce              ℓ = Σ_k log(1 + e^(f_k)) − y_k f_k    r = σ(f) − y        H_ℓ = diag σ(f)(1 − σ(f))
///
/// All three H_ℓ are positive semi-definite, so G is. For one-hot (or any probability-vector)
/// targets Σ_k y_k = 1 and the cross-entropy G is the Fisher of the softmax model.
public enum Loss: String, Codable, Sendable, CaseIterable {
    case mse
    case crossEntropy = "cross-entropy"
    case binaryCrossEntropy = "bce"

    /// Checks that targets suit this loss: C matching the outputs; for cross-entropy, C ≥ 2
    /// and non-negative targets; for bce, targets in [0, 1].
    public func validate(targets: Targets, outputs: Int) throws {
        guard targets.columns == outputs else {
            throw WispError.invalidConfiguration("the targets have \(targets.columns) columns but the network has \(outputs) outputs")
        }
        switch self {
        case .mse: break
        case .crossEntropy:
            guard outputs >= 2 else {
                throw WispError.invalidConfiguration("\(Setting.loss) cross-entropy needs at least 2 outputs (a softmax of one output is constant); use \(Setting.loss) bce for one")
            }
            if let bad = targets.values.firstIndex(where: { $0 < 0 }) {
                throw WispError.badInput("\(targets.source): cross-entropy targets must be non-negative (class probabilities); sample \(targets.samples.lowerBound + bad / outputs) has \(targets.values[bad])")
            }
        case .binaryCrossEntropy:
            if let bad = targets.values.firstIndex(where: { $0 < 0 || $0 > 1 }) {
                throw WispError.badInput("\(targets.source): bce targets must lie in [0, 1]; sample \(targets.samples.lowerBound + bad / outputs) has \(targets.values[bad])")
            }
        }
    }

    /// ℓ, r = ∂ℓ/∂f and what H_ℓ needs, for every row of `outputs` (rows × C, row-major).
    /// Cost O(rows · C).
    public func evaluate(outputs f: [Double], targets y: [Double], columns C: Int) -> LossEvaluation {
        precondition(f.count == y.count && f.count % max(C, 1) == 0)
        let rows = f.count / max(C, 1)
        var total = 0.0
        var r = [Double](repeating: 0, count: f.count)
        var p: [Double] = []
        var mass: [Double] = []
        switch self {
        case .mse:
            for i in 0..<f.count { let e = f[i] - y[i]; r[i] = e; total += 0.5 * e * e }
        case .crossEntropy:
            p = [Double](repeating: 0, count: f.count)
            mass = [Double](repeating: 0, count: rows)
            for t in 0..<rows {
                let o = t * C
                var m = -Double.infinity
                for k in 0..<C { m = max(m, f[o + k]) }
                var z = 0.0
                for k in 0..<C { z += Double.exp(f[o + k] - m) }
                let logZ = m + Double.log(z)
                var s = 0.0
                for k in 0..<C {
                    p[o + k] = Double.exp(f[o + k] - logZ)
                    s += y[o + k]
                    total -= y[o + k] == 0 ? 0 : y[o + k] * (f[o + k] - logZ)
                }
                mass[t] = s
                for k in 0..<C { r[o + k] = s * p[o + k] - y[o + k] }
            }
        case .binaryCrossEntropy:
            p = [Double](repeating: 0, count: f.count)
            for i in 0..<f.count {
                let x = f[i]
                // log(1 + eˣ) = max(x, 0) + log(1 + e^(−|x|)), stable for any x.
                total += max(x, 0) + Double.log(onePlus: Double.exp(-abs(x))) - y[i] * x
                p[i] = 1 / (1 + Double.exp(-x))
                r[i] = p[i] - y[i]
            }
        }
        return LossEvaluation(sum: total, gradient: r, outputHessian: OutputHessian(loss: self, columns: C, probabilities: p, mass: mass))
    }

    /// The fraction of rows classified correctly, where the targets name a class: the arg-max
    /// of f against the arg-max of y for one-hot targets (C ≥ 2), the sign of f against
    /// y > 1/2 for bce. Nil for real-valued regression targets. Returns the count of correct rows.
    public func correct(outputs f: [Double], targets y: [Double], columns C: Int, classes: Int?) -> Int? {
        let rows = f.count / max(C, 1)
        switch self {
        case .binaryCrossEntropy:
            return (0..<rows).filter { t in (0..<C).allSatisfy { (f[t * C + $0] > 0) == (y[t * C + $0] > 0.5) } }.count
        case .crossEntropy, .mse:
            guard C >= 2, self == .crossEntropy || classes != nil else { return nil }
            func argmax(_ a: [Double], _ t: Int) -> Int {
                var best = 0
                for k in 1..<C where a[t * C + k] > a[t * C + best] { best = k }
                return best
            }
            return (0..<rows).filter { argmax(f, $0) == argmax(y, $0) }.count
        }
    }
}

/// ℓ summed over some rows, its gradient per row, and the output Hessians H_ℓ.
public struct LossEvaluation: Sendable {
    /// Σ_rows ℓ (not yet divided by T).
    public let sum: Double
    /// r = ∂ℓ/∂f, rows × C.
    public let gradient: [Double]
    public let outputHessian: OutputHessian
}

/// The output Hessians H_ℓ(f_t) of a ``Loss`` at given outputs, applied row by row.
public struct OutputHessian: Sendable {
    public let loss: Loss
    public let columns: Int
    /// softmax(f) (cross-entropy) or σ(f) (bce), rows × C; empty for mse.
    let probabilities: [Double]
    /// Σ_k y_k per row (cross-entropy).
    let mass: [Double]

    /// w_t ← α H_ℓ(f_t) w_t for every row t of w (rows × C). Cost O(rows · C).
    public func apply<S: BLASScalar>(_ w: UnsafeMutablePointer<S>, rows: Int, scale alpha: Double = 1) {
        let C = columns
        switch loss {
        case .mse:
            if alpha != 1 { S.scal(n: rows * C, alpha: S(alpha), x: w) }
        case .crossEntropy:
            for t in 0..<rows {
                let o = t * C
                var pw = 0.0
                for k in 0..<C { pw += probabilities[o + k] * Double(w[o + k]) }
                let s = alpha * mass[t]
                for k in 0..<C { w[o + k] = S(s * probabilities[o + k] * (Double(w[o + k]) - pw)) }
            }
        case .binaryCrossEntropy:
            for i in 0..<(rows * C) {
                let p = probabilities[i]
                w[i] = S(alpha * p * (1 - p) * Double(w[i]))
            }
        }
    }
}
