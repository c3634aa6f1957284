import Foundation

/// Runs `body(range)` over `0..<count` split into contiguous chunks of at least `minimum`
/// elements, on all cores (`DispatchQueue.concurrentPerform`). For elementwise kernels whose
/// result per element does not depend on the chunking: the output is the same on any core count.
/// Below `2·minimum` elements it runs inline (thread hand-off costs more than it saves).
public func parallelChunks(count: Int, minimum: Int = 1 << 15, _ body: @Sendable (Range<Int>) -> Void) {
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let chunks = Swift.min(Swift.max(count / Swift.max(minimum, 1), 1), 4 * Swift.max(cores, 1))
    if chunks <= 1 || cores <= 1 { body(0..<count); return }
    let size = (count + chunks - 1) / chunks
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = c * size, hi = Swift.min(count, lo + size)
            if lo < hi { body(lo..<hi) }
        }
    }
}
