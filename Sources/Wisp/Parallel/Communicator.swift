/// The collective operations the operators and solvers need from a group of processes that
/// each hold a block of the samples. The engine never calls MPI directly: the executable
/// decides which implementation to pass in.
public protocol Communicator: AnyObject {
    /// This process's index, 0 ..< size.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }
    /// Replaces `buffer` on every process by the elementwise sum over all processes.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
}

extension Communicator {
    /// The sum of `value` over all processes.
    public func sum(_ value: Double) -> Double {
        var v = value
        withUnsafeMutablePointer(to: &v) { allreduceSum(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return v
    }

    /// The contiguous block of `total` samples owned by `rank`: the first total mod size ranks
    /// get one extra sample; ranks beyond `total` get none.
    public func block(of total: Int, rank r: Int? = nil) -> Range<Int> {
        let r = r ?? rank
        let base = total / size, extra = total % size
        let lower = r * base + min(r, extra)
        return lower..<(lower + base + (r < extra ? 1 : 0))
    }
}

/// One process holding all samples: every collective is the identity.
public final class SerialCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
}
