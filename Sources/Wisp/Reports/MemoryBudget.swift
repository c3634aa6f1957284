/// The one place that decides whether a large allocation may be made: every size computed
/// from flags or file headers goes through checked arithmetic here (``count(_:_:)``,
/// ``bytes(_:_:)``), and every allocation that grows with the problem (weights, activations,
/// Krylov bases, grids, one-hot targets, file buffers) is first compared with what the process
/// may still allocate (``require(_:for:)``), so a size that cannot fit ends in one error
/// line naming the bytes needed and available, instead of an abort in the allocator or a
/// trap on overflow.
///
/// Available = the least of MemAvailable, the address-space limit (`ulimit -v`, RLIMIT_AS)
/// less the current virtual size, and the cgroup's memory limit less its usage
/// (``ResourceUsage/availableBytes()``).
public enum MemoryBudget {
    /// The product of `factors`, refused (naming `what`) when it overflows Int or a factor is
    /// negative. Cost: one multiplication per factor.
    public static func count(_ what: String, _ factors: Int...) throws -> Int {
        try product(what, factors)
    }

    /// `factors` multiplied together (the last one usually the element size), refused when it
    /// overflows.
    public static func bytes(_ what: String, _ factors: Int...) throws -> Int {
        try product(what, factors)
    }

    /// Sums sizes, refused on overflow.
    public static func sum(_ what: String, _ terms: [Int]) throws -> Int {
        var total = 0
        for t in terms {
            let (s, overflow) = total.addingReportingOverflow(t)
            guard !overflow, t >= 0 else { throw tooLarge(what) }
            total = s
        }
        return total
    }

    /// Refuses `bytes` for `what` when more than the process may still allocate.
    public static func require(_ bytes: Int, for what: String) throws {
        guard let available = ResourceUsage.availableBytes(), bytes > available else { return }
        throw WispError.invalidConfiguration(
            "\(what) needs \(ResourceUsage.format(bytes: bytes)) of memory but only \(ResourceUsage.format(bytes: available)) is available (\(ResourceUsage.availableSource())); reduce the sizes or use more processes")
    }

    /// Checked `count × elementBytes` for `what`, then ``require(_:for:)``; returns the count.
    @discardableResult
    public static func allocation(_ what: String, count: Int, elementBytes: Int = 8) throws -> Int {
        let bytes = try product(what, [count, elementBytes])
        try require(bytes, for: what)
        return count
    }

    private static func product(_ what: String, _ factors: [Int]) throws -> Int {
        var total = 1
        for f in factors {
            guard f >= 0 else { throw WispError.invalidConfiguration("\(what): a size is negative (\(f))") }
            let (p, overflow) = total.multipliedReportingOverflow(by: f)
            guard !overflow else { throw tooLarge(what) }
            total = p
        }
        return total
    }

    private static func tooLarge(_ what: String) -> WispError {
        .invalidConfiguration("\(what): the size overflows 64-bit arithmetic (a flag or a file header is far too large)")
    }
}
