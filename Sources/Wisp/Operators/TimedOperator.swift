import Foundation

/// Wraps an operator and records how often and for how long it was applied (wall clock).
public final class TimedOperator: LinearOperator {
    public let base: any LinearOperator
    public private(set) var applications = 0
    public private(set) var seconds = 0.0

    public init(_ base: any LinearOperator) { self.base = base }

    public var space: VectorSpace { base.space }
    public var unitRoundoff: Double { base.unitRoundoff }

    public func apply(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>) {
        let start = DispatchTime.now().uptimeNanoseconds
        base.apply(x, into: y)
        seconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        applications += 1
    }
}
