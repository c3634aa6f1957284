import CFFTW
import Foundation

/// The discrete cosine transforms Wisp needs, through FFTW (the only file that calls FFTW).
///
/// Plans are created once per length and reused. FFTW's planner is not thread safe and each
/// cached plan owns its input and output arrays, so planning and execution both happen under
/// one lock (a transform of the lengths KPM uses, n ≤ 10⁵, takes microseconds to milliseconds).
/// Plans use FFTW_ESTIMATE, so the algorithm, and hence every bit of the result, depends on n
/// only (FFTW_MEASURE would pick algorithms by timing and break run-to-run determinism).
public enum CosineTransform {
    /// The type-III DCT (FFTW_REDFT01, the inverse of DCT-II up to a factor 2n):
    ///
    ///     Y_k = X_0 + 2 Σ_(j=1)^(n−1) X_j cos(π j (2k + 1) / (2n)),   k = 0 … n − 1.
    ///
    /// With X_j = g_j μ_j this evaluates a damped Chebyshev series at the Chebyshev points
    /// x_k = cos(π (k + ½)/n), since T_j(x_k) = cos(π j (2k + 1)/(2n)) (Weiße et al.,
    /// Rev. Mod. Phys. 78, 275 (2006), eq. 82). Cost O(n log n).
    public static func typeIII(_ x: [Double]) -> [Double] {
        let n = x.count
        guard n > 0 else { return [] }
        return cache.withPlan(n) { plan in
            x.withUnsafeBufferPointer { plan.input.update(from: $0.baseAddress!, count: n) }
            fftw_execute(plan.plan)
            return Array(UnsafeBufferPointer(start: plan.output, count: n))
        }
    }

    /// One FFTW plan with the arrays it was made for (allocated by fftw_malloc for alignment).
    final class Plan {
        let plan: fftw_plan
        let input: UnsafeMutablePointer<Double>
        let output: UnsafeMutablePointer<Double>

        init(length n: Int) {
            input = fftw_alloc_real(n)!
            output = fftw_alloc_real(n)!
            plan = wisp_fftw_plan_redft01(Int32(n), input, output)!
        }

        deinit {
            fftw_destroy_plan(plan)
            fftw_free(input)
            fftw_free(output)
        }
    }

    final class PlanCache: @unchecked Sendable {
        private let lock = NSLock()
        private var plans = [Int: Plan]()

        func withPlan<T>(_ n: Int, _ body: (Plan) -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            if let plan = plans[n] { return body(plan) }
            let plan = Plan(length: n)
            plans[n] = plan
            return body(plan)
        }

        var count: Int {
            lock.lock()
            defer { lock.unlock() }
            return plans.count
        }
    }

    static let cache = PlanCache()
}
