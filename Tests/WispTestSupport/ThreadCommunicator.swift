import Foundation
import Wisp

/// A group of "ranks" run as threads of one process, for tests of sharded operators without a
/// launcher: ``run(size:_:)`` calls the body once per rank, concurrently, each with its own
/// ``ThreadCommunicator``. Every collective exchanges the ranks' contributions and combines
/// them in rank order, so sums are the same whichever thread arrives first.
public final class ThreadGroup: @unchecked Sendable {
    public let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private var slots: [[Double]]

    init(size: Int) {
        self.size = size
        slots = Array(repeating: [], count: size)
    }

    private func barrier() {
        condition.lock()
        let g = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while g == generation { condition.wait() }
        }
        condition.unlock()
    }

    /// Every rank's `values`, in rank order (collective).
    func exchange(rank: Int, _ values: [Double]) -> [[Double]] {
        condition.lock()
        slots[rank] = values
        condition.unlock()
        barrier()
        condition.lock()
        let all = slots
        condition.unlock()
        barrier()
        return all
    }

    /// Runs `body(communicator)` on `size` threads and returns their results in rank order.
    public static func run<R>(size: Int, _ body: @escaping @Sendable (ThreadCommunicator) throws -> R) throws -> [R] {
        let group = ThreadGroup(size: size)
        let box = ResultBox<R>(size)
        let done = DispatchSemaphore(value: 0)
        let lock = NSLock()
        for r in 0..<size {
            let thread = Thread {
                let result = Result { try body(ThreadCommunicator(rank: r, group: group)) }
                lock.lock()
                box.results[r] = result
                lock.unlock()
                done.signal()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        for _ in 0..<size { done.wait() }
        return try box.results.map { try $0!.get() }
    }
}

private final class ResultBox<R>: @unchecked Sendable {
    var results: [Result<R, any Error>?]
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
}

/// One rank of a ``ThreadGroup``.
public final class ThreadCommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    private let group: ThreadGroup
    public var size: Int { group.size }

    init(rank: Int, group: ThreadGroup) {
        self.rank = rank
        self.group = group
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        let all = group.exchange(rank: rank, Array(buffer))
        for i in buffer.indices { buffer[i] = all.reduce(0) { $0 + $1[i] } }
    }

    public func allreduceMin(_ value: Int) -> Int {
        Int(group.exchange(rank: rank, [Double(value)]).map { $0[0] }.min()!)
    }

    public func allgather(_ local: [Double], counts: [Int]) -> [Double] {
        group.exchange(rank: rank, local).flatMap { $0 }
    }

    public var statistics: CommunicationStatistics { CommunicationStatistics() }
}
