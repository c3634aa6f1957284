#if WISP_MPICH
import CMPICH
#else
import CMPI
#endif
import Foundation
import Wisp

/// ``Communicator`` over MPI_COMM_WORLD. The only Swift code that calls MPI: every call's
/// return code is checked (the default handler, MPI_ERRORS_ARE_FATAL, aborts before a
/// failure code could come back, so a failed check means a broken MPI installation).
///
/// Reductions use MPI_Allreduce with MPI_SUM in place; OpenMPI's algorithms combine the
/// same partial sums in the same order on every process, so all ranks hold bitwise-equal
/// results (the replicated solver state never diverges between ranks).
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// The processes of this job on this node (sharing its memory), this one included.
    public let ranksSharingMemory: Int
    public private(set) var statistics = CommunicationStatistics()
    private let comm = wisp_mpi_comm_world()
    /// Counts per MPI call are C ints; larger buffers go in slices of this many elements.
    private let slice = 1 << 30

    /// Whether this process was started by an MPI launcher (mpirun, srun with PMI/PMIx).
    /// Without one, Wisp runs single-process and never initializes MPI.
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { env[$0] != nil }
    }

    /// This process's rank as the launcher set it, readable before MPI is initialized.
    public static var launcherRank: Int {
        let env = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"] { if let r = env[key].flatMap(Int.init) { return r } }
        return 0
    }

    /// MPI_Init_thread with MPI_THREAD_FUNNELED (BLAS threads never call MPI).
    public init() {
        var provided: Int32 = 0
        check(MPI_Init_thread(nil, nil, wisp_mpi_thread_funneled(), &provided), "MPI_Init_thread")
        var r: Int32 = 0, s: Int32 = 0
        check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
        check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
        ranksSharingMemory = max(Int(wisp_mpi_ranks_sharing_memory(r)), 1)
    }

    /// MPI_Finalize; call once, after the last collective.
    public func finalize() {
        check(MPI_Finalize(), "MPI_Finalize")
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        let start = DispatchTime.now().uptimeNanoseconds
        var offset = 0
        while offset < buffer.count {
            let n = min(slice, buffer.count - offset)
            check(MPI_Allreduce(wisp_mpi_in_place(), buffer.baseAddress! + offset, Int32(n), wisp_mpi_double(),
                                wisp_mpi_sum(), comm), "MPI_Allreduce")
            offset += n
        }
        record(start, bytes: buffer.count * 8)
    }

    public func allreduceMin(_ value: Int) -> Int {
        let start = DispatchTime.now().uptimeNanoseconds
        var v = Int64(value)
        check(MPI_Allreduce(wisp_mpi_in_place(), &v, 1, wisp_mpi_int64(), wisp_mpi_min(), comm), "MPI_Allreduce")
        record(start, bytes: 8)
        return Int(v)
    }

    public func allgather(_ local: [Double], counts: [Int]) -> [Double] {
        precondition(counts.count == size && counts[rank] == local.count)
        let start = DispatchTime.now().uptimeNanoseconds
        let total = counts.reduce(0, +)
        precondition(total <= Int(Int32.max), "allgather of \(total) values exceeds MPI's int counts")
        var displacements = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) { displacements[r] = displacements[r - 1] + Int32(counts[r - 1]) }
        var result = [Double](repeating: 0, count: max(total, 1))
        let counts32 = counts.map { Int32($0) }
        local.withUnsafeBufferPointer { l in
            result.withUnsafeMutableBufferPointer { r in
                check(MPI_Allgatherv(l.baseAddress, Int32(local.count), wisp_mpi_double(), r.baseAddress, counts32,
                                     displacements, wisp_mpi_double(), comm), "MPI_Allgatherv")
            }
        }
        record(start, bytes: local.count * 8)
        return Array(result.prefix(total))
    }

    /// MPI_Alltoallv of doubles: `send` holds, in rank order, `sendCounts[r]` values for each
    /// process r; returns, in rank order, the `receiveCounts[r]` values each process r sent here.
    /// Counts and displacements are C ints (each total below 2³¹ values).
    public func alltoallv(_ send: [Double], sendCounts: [Int], receiveCounts: [Int]) -> [Double] {
        precondition(sendCounts.count == size && receiveCounts.count == size && sendCounts.reduce(0, +) == send.count)
        let start = DispatchTime.now().uptimeNanoseconds
        func offsets(_ counts: [Int]) -> [Int32] {
            var o = [Int32](repeating: 0, count: size)
            for r in 1..<max(size, 1) { o[r] = o[r - 1] + Int32(counts[r - 1]) }
            return o
        }
        let total = receiveCounts.reduce(0, +)
        precondition(send.count <= Int(Int32.max) && total <= Int(Int32.max), "alltoallv of more than 2³¹ values per process")
        let sendDisplacements = offsets(sendCounts), receiveDisplacements = offsets(receiveCounts)
        var result = [Double](repeating: 0, count: max(total, 1))
        send.withUnsafeBufferPointer { s in
            result.withUnsafeMutableBufferPointer { r in
                check(MPI_Alltoallv(s.baseAddress, sendCounts.map { Int32($0) }, sendDisplacements, wisp_mpi_double(),
                                    r.baseAddress, receiveCounts.map { Int32($0) }, receiveDisplacements, wisp_mpi_double(), comm),
                      "MPI_Alltoallv")
            }
        }
        record(start, bytes: send.count * 8)
        if total == 0 { return [] }
        return result
    }

    private func record(_ start: UInt64, bytes: Int) {
        statistics.seconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        statistics.calls += 1
        statistics.bytes += bytes
    }

}

private func check(_ code: Int32, _ call: String) {
    guard code == wisp_mpi_success() else {
        FileHandle.standardError.write(Data("wisp: error: \(call) failed with MPI error \(code)\n".utf8))
        MPI_Abort(wisp_mpi_comm_world(), 1)
        exit(1)
    }
}
