import Wisp

/// The relative residual tolerance of an eigensolver run in `precision`: the given `--tol`,
/// else `fallback` or the passes' rounding floor 100·ε where that is larger (a default never
/// asks for what the precision cannot give). A given value below the floor gets one
/// `wisp: warning:` line (rank 0) before the solve: pairs that stop at the floor are then
/// reported as not converged.
func solverTolerance(_ given: Double?, fallback: Double, precision: Precision) -> Double {
    let floor = Lanczos.relativeRoundingFloor(unitRoundoff: precision.unitRoundoff)
    guard let given else { return max(fallback, floor) }
    if given < floor, Runtime.isLead {
        warn(String(format: "--tol %g is below the rounding floor of the %@ passes, 100·ε = %.2g relative to the largest eigenvalue: pairs that stop there are reported as not converged",
                    given, precision.rawValue, floor))
    }
    return given
}
