/// Second-order products of a network over a block of samples by Pearlmutter's R-operator
/// (forward-over-reverse): the directional derivative R_v{·} = d/dε (·)(θ + εv)|₀ of the
/// backward pass of ``BatchedJacobian``, through the same batched layers and GEMMs.
///
/// The backward pass with top signal Δ^L computes g = Jᵀ Δ^L:
///     ∇W^l = c_l Δ^lᵀ H^(l−1),  ∇b^l = c_b Δ^lᵀ 1,  Δ^(l−1) = φ'(U^(l−1)) ⊙ A^(l−1),  A^(l−1) = c_l Δ^l W^l.
/// Its R-derivative along v = (dW, db), with the tangents dU^l, dH^l = φ'(U^l) ⊙ dU^l of the
/// JVP and a given top tangent dΔ^L, is
///     R{∇W^l} = c_l (dΔ^lᵀ H^(l−1) + Δ^lᵀ dH^(l−1)),  R{∇b^l} = c_b dΔ^lᵀ 1,
///     dΔ^(l−1) = φ'(U^(l−1)) ⊙ c_l (dΔ^l W^l + Δ^l dW^l) + φ''(U^(l−1)) ⊙ dU^(l−1) ⊙ A^(l−1).
/// With Δ^L = (1/T) r (r = ∂ℓ/∂f, the loss gradient per sample) this gives, for the loss
/// L = (1/T) Σ_t ℓ(f_t, y_t) and its Hessian H = G + S (Jacot et al. §3.1):
///     dΔ^L = (1/T) H_ℓ dU^L  →  H v,        dΔ^L = 0  →  S v = (1/T) Σ_(t,k) r_tk ∇²f_k(x_t) v.
/// (G v = (1/T) Jᵀ H_ℓ J v needs no second-order pass: ``FisherOperator``.)
///
/// φ'' is zero for ReLU, leaky ReLU and linear layers (see ``Activation/applySecondDerivative(_:into:count:)``):
/// S is then still non-zero, from the Δ^l dW^l and Δ^lᵀ dH^(l−1) cross-layer terms.
///
/// Cost per product: the JVP (2 GEMMs per layer) and 5 GEMMs per layer backward, about
/// 7·T·Σ_l M_l M_(l−1) multiply-adds, 1.75× a Fisher product. Memory beyond the
/// ``BatchedJacobian`` cache: φ''(U^l) and the tangents dU^l, dH^l, 3·T·Σ_(l<L) M_l scalars.
/// Without normalization layers only (their second derivatives are not implemented).
public final class HessianVectorProduct<S: BLASScalar> {
    public let jacobian: BatchedJacobian<S>
    /// φ''(U^l), l = 1…L−1 (index l−1).
    private let curvatures: [UnsafeMutablePointer<S>]
    /// dU^l, l = 1…L (index l−1), and dH^l, l = 1…L−1.
    private let tangentU: [UnsafeMutablePointer<S>]
    private let tangentH: [UnsafeMutablePointer<S>]
    /// The Δ and dΔ chains, two buffers each (T × max M).
    private let chains: [UnsafeMutablePointer<S>]

    public init(jacobian: BatchedJacobian<S>) throws {
        let arch = jacobian.architecture
        guard arch.normalization == .none else {
            throw WispError.invalidConfiguration("Hessian-vector products are implemented without normalization layers (got \(Setting.normalization) \(arch.normalization.rawValue))")
        }
        self.jacobian = jacobian
        let T = jacobian.sampleCount, L = arch.depth
        func buffer(_ n: Int) -> UnsafeMutablePointer<S> {
            let p = UnsafeMutablePointer<S>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            return p
        }
        tangentU = (1...L).map { buffer(T * arch.widths[$0]) }
        tangentH = (1..<L).map { buffer(T * arch.widths[$0]) }
        chains = (0..<4).map { _ in buffer(T * arch.widths.max()!) }
        curvatures = (1..<L).map { buffer(T * arch.widths[$0]) }
        computeSecondDerivatives()
    }

    deinit {
        for p in curvatures + tangentU + tangentH + chains { p.deallocate() }
    }

    /// φ''(U^l) for the hidden layers, recomputing U^l = c_l H^(l−1) W^lᵀ + c_b 1 b^lᵀ from the
    /// cached activations (one GEMM per layer, once).
    private func computeSecondDerivatives() {
        let j = jacobian, arch = j.architecture, T = j.sampleCount
        guard arch.depth > 1 else { return }
        let u = chains[0]
        for l in 1..<arch.depth {
            let (fanIn, fanOut) = (arch.widths[l - 1], arch.widths[l])
            j.network.parameters.withUnsafeBufferPointer { theta in
                j.withInputsOrHidden(l - 1) { h in
                    S.gemm(transA: false, transB: true, m: T, n: fanOut, k: fanIn, alpha: S(arch.weightScale(l)),
                           a: h, lda: fanIn, b: theta.baseAddress! + arch.weightOffset(l), ldb: fanIn,
                           beta: 0, c: u, ldc: fanOut)
                }
                if arch.hasBias(l) {
                    j.ones.withUnsafeBufferPointer { one in
                        S.ger(m: T, n: fanOut, alpha: S(arch.biasScale), x: one.baseAddress!,
                              y: theta.baseAddress! + arch.biasOffset(l), a: u, lda: fanOut)
                    }
                }
            }
            arch.activation.applySecondDerivative(u, into: curvatures[l - 1], count: T * fanOut)
        }
    }

    /// g ← R_v{Jᵀ Δ^L} with Δ^L = `signal` (T × C, e.g. r/T) held fixed and the top tangent
    /// dΔ^L = `topTangent(J v)` computed in place from J v (nil: dΔ^L = 0). `g` has length P and
    /// is overwritten. See the type's documentation for the recursion.
    public func apply(_ v: UnsafePointer<S>, signal: UnsafePointer<S>,
                      topTangent: ((UnsafeMutablePointer<S>) -> Void)?, into g: UnsafeMutablePointer<S>) {
        let j = jacobian, arch = j.architecture
        let T = j.sampleCount, L = arch.depth, C = arch.outputs
        // Forward tangents: dU^l from the JVP, dH^l = φ'(U^l) ⊙ dU^l.
        let (tangentU, tangentH, curvatures) = (self.tangentU, self.tangentH, self.curvatures)
        j.jvp(v, into: tangentU[L - 1]) { l, du in
            guard l < L else { return }
            let n = T * arch.widths[l]
            tangentU[l - 1].update(from: du, count: n)
            tangentH[l - 1].update(from: du, count: n)
            j.slopes[l - 1].withUnsafeBufferPointer { S.multiply(tangentH[l - 1], by: $0.baseAddress!, count: n) }
        }
        var (d, dNext, e, eNext) = (chains[0], chains[1], chains[2], chains[3])
        d.update(from: signal, count: T * C)
        if let topTangent {
            e.update(from: tangentU[L - 1], count: T * C)
            topTangent(e)
        } else {
            e.update(repeating: 0, count: T * C)
        }
        j.network.parameters.withUnsafeBufferPointer { thetaBuffer in
            let theta = thetaBuffer.baseAddress!
            for l in stride(from: L, through: 1, by: -1) {
                let (fanIn, fanOut) = (arch.widths[l - 1], arch.widths[l])
                let c = S(arch.weightScale(l))
                // R{∇W^l} = c_l (dΔ^lᵀ H^(l−1) + Δ^lᵀ dH^(l−1)).
                j.withInputsOrHidden(l - 1) { h in
                    S.gemm(transA: true, transB: false, m: fanOut, n: fanIn, k: T, alpha: c, a: e, lda: fanOut,
                           b: h, ldb: fanIn, beta: 0, c: g + arch.weightOffset(l), ldc: fanIn)
                }
                if l > 1 {
                    S.gemm(transA: true, transB: false, m: fanOut, n: fanIn, k: T, alpha: c, a: d, lda: fanOut,
                           b: tangentH[l - 2], ldb: fanIn, beta: 1, c: g + arch.weightOffset(l), ldc: fanIn)
                }
                if arch.hasBias(l) {
                    j.ones.withUnsafeBufferPointer { one in
                        S.gemv(trans: true, m: T, n: fanOut, alpha: S(arch.biasScale), a: e, lda: fanOut,
                               x: one.baseAddress!, beta: 0, y: g + arch.biasOffset(l))
                    }
                }
                guard l > 1 else { break }
                // A^(l−1) = c_l Δ^l W^l;  dΔ^(l−1) = φ' ⊙ c_l (dΔ^l W^l + Δ^l dW^l) + φ'' ⊙ dU^(l−1) ⊙ A^(l−1).
                let n = T * fanIn
                S.gemm(transA: false, transB: false, m: T, n: fanIn, k: fanOut, alpha: c, a: d, lda: fanOut,
                       b: theta + arch.weightOffset(l), ldb: fanIn, beta: 0, c: dNext, ldc: fanIn)
                S.gemm(transA: false, transB: false, m: T, n: fanIn, k: fanOut, alpha: c, a: e, lda: fanOut,
                       b: theta + arch.weightOffset(l), ldb: fanIn, beta: 0, c: eNext, ldc: fanIn)
                S.gemm(transA: false, transB: false, m: T, n: fanIn, k: fanOut, alpha: c, a: d, lda: fanOut,
                       b: v + arch.weightOffset(l), ldb: fanIn, beta: 1, c: eNext, ldc: fanIn)
                // dU^(l−1) is no longer needed: it becomes φ''(U^(l−1)) ⊙ dU^(l−1).
                let du = tangentU[l - 2]
                S.multiply(du, by: curvatures[l - 2], count: n)
                j.slopes[l - 2].withUnsafeBufferPointer { slope in
                    S.multiplyAdd(eNext, by: slope.baseAddress!, adding: du, times: dNext, count: n)
                    S.multiply(dNext, by: slope.baseAddress!, count: n)
                }
                swap(&d, &dNext)
                swap(&e, &eNext)
            }
        }
    }
}
