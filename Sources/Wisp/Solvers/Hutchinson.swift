/// Hutchinson's estimators with Rademacher probes r (E[r rᵀ] = I):
///     tr(A) = E[rᵀ A r],   tr(A²) = E[‖A r‖²],
/// both returned normalized by N (so they estimate the mean eigenvalue and the mean squared
/// eigenvalue). One operator application per probe; probe p is stream (seed, probe p).
public enum Hutchinson {
    public static func firstTwoMoments(_ op: any LinearOperator, probes: Int, seed: UInt64,
                                       progress: ((Int) -> Void)? = nil) throws -> (first: Estimate, second: Estimate) {
        guard probes >= 2 else { throw WispError.invalidConfiguration("\(Setting.hutchinsonProbes) must be at least 2 for an error bar (got \(probes))") }
        let space = op.space
        let n = space.localDimension, N = Double(space.dimension)
        var r = [Double](repeating: 0, count: max(n, 1))
        var ar = [Double](repeating: 0, count: max(n, 1))
        var first = [Double](), second = [Double]()
        for p in 0..<probes {
            r.withUnsafeMutableBufferPointer {
                CounterRandom(seed: seed, stream: .probe(p)).fillRademacher(UnsafeMutableBufferPointer(rebasing: $0[0..<n]), first: space.local.lowerBound)
            }
            r.withUnsafeBufferPointer { rp in ar.withUnsafeMutableBufferPointer { op.apply(rp.baseAddress!, into: $0.baseAddress!) } }
            r.withUnsafeBufferPointer { rp in
                ar.withUnsafeBufferPointer { ap in
                    first.append(space.dot(rp.baseAddress!, ap.baseAddress!) / N)
                    second.append(space.dot(ap.baseAddress!, ap.baseAddress!) / N)
                }
            }
            progress?(p + 1)
        }
        return (Estimate(first), Estimate(second))
    }
}
