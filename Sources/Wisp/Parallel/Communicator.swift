/// The collective operations the operators and solvers need from a group of processes that
/// each hold a block of the samples. The engine never calls MPI directly: the executable
/// decides which implementation to pass in (``SerialCommunicator`` or WispMPI's).
///
/// Every method is collective: all processes call it, in the same order.
public protocol Communicator: SampleReduction {
    /// This process's index, 0 ..< size.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }
    /// Replaces `buffer` on every process by the elementwise sum over all processes.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// The minimum of `value` over all processes.
    func allreduceMin(_ value: Int) -> Int
    /// Concatenates every process's `local` in rank order; `counts[r]` is process r's length.
    func allgather(_ local: [Double], counts: [Int]) -> [Double]
    /// Time, calls and bytes spent in collectives so far.
    var statistics: CommunicationStatistics { get }
}

/// What a process has spent in collectives.
public struct CommunicationStatistics: Codable, Sendable, Equatable {
    public var seconds = 0.0
    public var calls = 0
    /// Bytes contributed by this process (the reduced or gathered payload).
    public var bytes = 0

    public init() {}

    public static func - (a: Self, b: Self) -> Self {
        var d = Self()
        d.seconds = a.seconds - b.seconds
        d.calls = a.calls - b.calls
        d.bytes = a.bytes - b.bytes
        return d
    }
}

extension Communicator {
    /// Sample sums are sums over processes.
    public func sumOverSamples(_ values: UnsafeMutableBufferPointer<Double>) { allreduceSum(values) }

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

    /// Runs `body` on every process and agrees on the outcome, so a failure on any process
    /// (a missing file on one node, too little memory on another) stops all of them together
    /// instead of leaving the others waiting in a collective. The lowest failing rank gets
    /// its error back (as ``RankFailure`` when there are several processes, so it is the one
    /// that reports); the other processes get ``PeerFailure``. Cost: one allreduce of an int.
    ///
    /// Agreements nest: a ``PeerFailure`` from an inner agreement does not count as a failure
    /// of this process (the inner agreement's reporter fails here too), and a ``RankFailure``
    /// passes through unwrapped.
    public func agree<T>(_ body: () throws -> T) throws -> T {
        let outcome = Result { try body() }
        let failed: Int
        if case .failure(let error) = outcome, !(error is PeerFailure) { failed = allreduceMin(rank) } else { failed = allreduceMin(size) }
        switch outcome {
        case .success(let value) where failed == size: return value
        case .failure(let error) where failed == rank:
            throw size > 1 && !(error is RankFailure) ? RankFailure(rank: rank, underlying: error) : error
        case .failure(let error as PeerFailure) where failed == size: throw error
        default: throw PeerFailure(rank: failed)
        }
    }
}

/// This process failed in an agreed phase and is the one to report it.
public struct RankFailure: Error, CustomStringConvertible {
    public let rank: Int
    public let underlying: any Error
    public var description: String { "rank \(rank): \(underlying)" }
}

/// Another process failed first and reports the error; this one stops quietly.
public struct PeerFailure: Error, CustomStringConvertible {
    public let rank: Int
    public var description: String { "process \(rank) failed" }
}

/// One process holding all samples: every collective is the identity.
public final class SerialCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func allreduceMin(_ value: Int) -> Int { value }
    public func allgather(_ local: [Double], counts: [Int]) -> [Double] { local }
    public var statistics: CommunicationStatistics { CommunicationStatistics() }
}

extension Communicator {
    /// Rank 0's `values` on every process (the others' arguments are ignored). Cost: one
    /// allreduce of the length and one allgather.
    public func broadcastFromLead(_ values: [Double]) -> [Double] {
        let n = Int(sum(rank == 0 ? Double(values.count) : 0))
        var counts = [Int](repeating: 0, count: size)
        counts[0] = n
        return allgather(rank == 0 ? values : [], counts: counts)
    }
}
