import Foundation
import Wisp

/// Independent references for tests: a per-sample, per-output network evaluated with plain
/// scalar loops in Double (no BLAS, no batching), the explicit Jacobian it gives, and
/// central finite differences. Nothing here shares code with the engine's passes except the
/// scalar activation functions.
public enum DenseReference {
    /// f(x_t) for one sample, by the definition u^l = c_l W^l h^(l−1) + c_b b^l.
    public static func outputs(architecture a: Architecture, parameters theta: [Double], input x: [Double]) -> [Double] {
        var h = x
        for l in 1...a.depth {
            let (fanIn, fanOut) = (a.widths[l - 1], a.widths[l])
            var u = [Double](repeating: 0, count: fanOut)
            for i in 0..<fanOut {
                var s = 0.0
                for j in 0..<fanIn { s += theta[a.weightOffset(l) + i * fanIn + j] * h[j] }
                u[i] = a.weightScale(l) * s + (a.hasBias(l) ? a.biasScale * theta[a.biasOffset(l) + i] : 0)
            }
            h = l < a.depth ? u.map { a.activation.value($0) } : u
        }
        return h
    }

    /// The explicit Jacobian J (TC × P, row t·C + k = ∇θ f_k(x_t)ᵀ) by per-sample, per-output
    /// backpropagation with scalar loops.
    public static func jacobian(architecture a: Architecture, parameters theta: [Double], inputs: Dataset) -> [Double] {
        let T = inputs.samples.count, C = a.outputs, P = a.parameterCount, d = inputs.dimension
        var J = [Double](repeating: 0, count: T * C * P)
        for t in 0..<T {
            let x = Array(inputs.values[(t * d)..<((t + 1) * d)])
            // Forward, keeping pre-activations.
            var hs = [x], us = [[Double]]()
            for l in 1...a.depth {
                let (fanIn, fanOut) = (a.widths[l - 1], a.widths[l])
                var u = [Double](repeating: 0, count: fanOut)
                for i in 0..<fanOut {
                    var s = 0.0
                    for j in 0..<fanIn { s += theta[a.weightOffset(l) + i * fanIn + j] * hs[l - 1][j] }
                    u[i] = a.weightScale(l) * s + (a.hasBias(l) ? a.biasScale * theta[a.biasOffset(l) + i] : 0)
                }
                us.append(u)
                hs.append(l < a.depth ? u.map { a.activation.value($0) } : u)
            }
            for k in 0..<C {
                var delta = [Double](repeating: 0, count: C)
                delta[k] = 1
                let row = (t * C + k) * P
                for l in stride(from: a.depth, through: 1, by: -1) {
                    let (fanIn, fanOut) = (a.widths[l - 1], a.widths[l])
                    for i in 0..<fanOut {
                        for j in 0..<fanIn { J[row + a.weightOffset(l) + i * fanIn + j] = a.weightScale(l) * delta[i] * hs[l - 1][j] }
                        if a.hasBias(l) { J[row + a.biasOffset(l) + i] = a.biasScale * delta[i] }
                    }
                    if l > 1 {
                        var prev = [Double](repeating: 0, count: fanIn)
                        for j in 0..<fanIn {
                            var s = 0.0
                            for i in 0..<fanOut { s += delta[i] * theta[a.weightOffset(l) + i * fanIn + j] }
                            prev[j] = a.weightScale(l) * s * a.activation.derivative(us[l - 2][j])
                        }
                        delta = prev
                    }
                }
            }
        }
        return J
    }

    /// Central differences (f(θ + h eᵢ) − f(θ − h eᵢ)) / 2h for every parameter: TC × P.
    /// Truncation error O(h² f'''), rounding O(ε f / h); h = ε^(1/3) balances them.
    public static func finiteDifferenceJacobian(architecture a: Architecture, parameters theta: [Double], inputs: Dataset,
                                                step h: Double = 6e-6) -> [Double] {
        let T = inputs.samples.count, C = a.outputs, P = a.parameterCount, d = inputs.dimension
        var J = [Double](repeating: 0, count: T * C * P)
        var p = theta
        for i in 0..<P {
            for t in 0..<T {
                let x = Array(inputs.values[(t * d)..<((t + 1) * d)])
                p[i] = theta[i] + h
                let plus = outputs(architecture: a, parameters: p, input: x)
                p[i] = theta[i] - h
                let minus = outputs(architecture: a, parameters: p, input: x)
                p[i] = theta[i]
                for k in 0..<C { J[(t * C + k) * P + i] = (plus[k] - minus[k]) / (2 * h) }
            }
        }
        return J
    }

    /// A Bᵀ-free product: (rows × inner) · (inner × cols), plain loops.
    public static func multiply(_ a: [Double], _ b: [Double], rows: Int, inner: Int, cols: Int) -> [Double] {
        var c = [Double](repeating: 0, count: rows * cols)
        for i in 0..<rows { for k in 0..<inner { let x = a[i * inner + k]; if x != 0 { for j in 0..<cols { c[i * cols + j] += x * b[k * cols + j] } } } }
        return c
    }

    public static func transpose(_ a: [Double], rows: Int, cols: Int) -> [Double] {
        var t = [Double](repeating: 0, count: rows * cols)
        for i in 0..<rows { for j in 0..<cols { t[j * rows + i] = a[i * cols + j] } }
        return t
    }

    /// F = (1/T) Jᵀ J (P × P) from an explicit J.
    public static func fisher(jacobian J: [Double], rows: Int, parameters P: Int, totalSamples T: Int) -> [Double] {
        let Jt = transpose(J, rows: rows, cols: P)
        return multiply(Jt, J, rows: P, inner: rows, cols: P).map { $0 / Double(T) }
    }

    /// K = (1/T) J Jᵀ (TC × TC) from an explicit J.
    public static func gram(jacobian J: [Double], rows: Int, parameters P: Int, totalSamples T: Int) -> [Double] {
        let Jt = transpose(J, rows: rows, cols: P)
        return multiply(J, Jt, rows: rows, inner: P, cols: rows).map { $0 / Double(T) }
    }

    /// Largest |a_i − b_i| / (|b|_∞), the error measure of the comparisons.
    /// J (rows × P, row-major) formed column by column from `jvp` (J e_j for every unit vector
    /// e_j: P products), for networks whose only access to J is a JVP pass.
    public static func jacobian(rows n: Int, parameters P: Int, jvp: ([Double], inout [Double]) -> Void) -> [Double] {
        var J = [Double](repeating: 0, count: n * P), e = [Double](repeating: 0, count: P), column = [Double](repeating: 0, count: n)
        for j in 0..<P {
            e[j] = 1
            jvp(e, &column)
            e[j] = 0
            for i in 0..<n { J[i * P + j] = column[i] }
        }
        return J
    }

    /// Π_k w = Σ_(i<k) z_i z_iᵀ w, the projection of w on the top k eigenvectors of a P × P
    /// matrix, `z` LAPACK's eigenvectors (row-major, column c the c-th eigenvalue ascending, so
    /// z_i = column P − 1 − i). Scalar loops, O(k P²).
    public static func topProjection(_ w: [Double], eigenvectors z: [Double], P: Int, k: Int) -> [Double] {
        var projected = [Double](repeating: 0, count: P)
        for i in 0..<k {
            let c = P - 1 - i
            let coefficient = (0..<P).reduce(0.0) { $0 + z[$1 * P + c] * w[$1] }
            for j in 0..<P { projected[j] += coefficient * z[j * P + c] }
        }
        return projected
    }

    public static func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        let scale = b.map(abs).max() ?? 0
        let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        return scale > 0 ? diff / scale : diff
    }
}

/// The catalogue of tiny networks the derivative tests iterate over.
public struct NetworkCase: CustomStringConvertible, Sendable {
    public var architecture: Architecture
    public init(architecture: Architecture) { self.architecture = architecture }
    public var description: String {
        "\(architecture.activation.rawValue) \(architecture.parametrization.rawValue) bias=\(architecture.layerBias) widths=\(architecture.widths)"
    }

    /// Every activation × parametrization × bias on a 3-layer net with 2 outputs: biases in
    /// every layer, in none, and in some (PyTorch `bias=False` on some layers: the middle layer
    /// only, or all but the middle one, alternating over the activations). σ_b² > 0 so the
    /// NTK-form biases have a nonzero factor.
    public static var all: [NetworkCase] {
        var cases = [NetworkCase]()
        for (n, activation) in Activation.allCases.enumerated() {
            for parametrization in Parametrization.allCases {
                for bias in [[true, true, true], [false, false, false], n % 2 == 0 ? [false, true, false] : [true, false, true]] {
                    let a = try! Architecture(widths: [3, 5, 4, 2], activation: activation, layerBias: bias,
                                              parametrization: parametrization, sigmaW2: 1.7, sigmaB2: 0.3)
                    cases.append(NetworkCase(architecture: a))
                }
            }
        }
        return cases
    }
}

extension DenseReference {
    /// Σ_(t,k) w_tk ∇²_θ f_k(x_t) (P × P) by central differences of the scalar-loop Jacobian:
    /// column i = Σ_(t,k) w_tk (J(θ + h eᵢ) − J(θ − h eᵢ))_((t,k),:) / 2h. Truncation O(h² f⁗),
    /// rounding O(ε |J| / h).
    public static func weightedOutputHessian(architecture a: Architecture, parameters theta: [Double], inputs: Dataset,
                                             weights w: [Double], step h: Double = 1e-5) -> [Double] {
        let P = a.parameterCount, rows = inputs.samples.count * a.outputs
        precondition(w.count == rows)
        var result = [Double](repeating: 0, count: P * P)
        var p = theta
        for i in 0..<P {
            p[i] = theta[i] + h
            let plus = jacobian(architecture: a, parameters: p, inputs: inputs)
            p[i] = theta[i] - h
            let minus = jacobian(architecture: a, parameters: p, inputs: inputs)
            p[i] = theta[i]
            for r in 0..<rows where w[r] != 0 {
                for j in 0..<P { result[j * P + i] += w[r] * (plus[r * P + j] - minus[r * P + j]) / (2 * h) }
            }
        }
        return result
    }

    /// The dense matrix of an operator on a replicated space, one column per unit vector.
    public static func dense(_ op: any LinearOperator) -> [Double] {
        let n = op.dimension
        var m = [Double](repeating: 0, count: n * n)
        var e = [Double](repeating: 0, count: n)
        for i in 0..<n {
            e[i] = 1
            let col = op.apply(e)
            e[i] = 0
            for j in 0..<n { m[j * n + i] = col[j] }
        }
        return m
    }
}
