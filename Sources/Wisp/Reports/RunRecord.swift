import Foundation

/// The Wisp version written into every output.
public let wispVersion = "0.1.0"

/// The version with the git commit the binary was built from (``wispBuildCommit``, baked in by
/// the BuildInfo plugin), as summaries and `wisp --version` print it: "0.1.0 (commit 6b191af)".
public var wispVersionAndCommit: String {
    let c = wispBuildCommit
    let short = c == "unknown" ? c : String(c.prefix(7)) + (c.hasSuffix("-dirty") ? "-dirty" : "")
    return "\(wispVersion) (commit \(short))"
}

/// Wall-clock timings of a run.
public struct Timings: Codable, Sendable {
    public var totalSeconds: Double
    /// Time inside operator applications (the JVP/VJP passes and their reductions).
    public var operatorSeconds: Double
    public var operatorApplications: Int
    /// Time in collectives (allreduce, allgather) on rank 0, part of the total.
    public var communicationSeconds: Double
    /// Time outside collectives: total − communication.
    public var computeSeconds: Double { totalSeconds - communicationSeconds }
    /// Time before the job's clock started: reading the model and data and the forward pass
    /// (``Problem/setupSeconds``); not part of the total. Set by ``RunRecord``.
    public var setupSeconds: Double?

    public init(totalSeconds: Double, operatorSeconds: Double, operatorApplications: Int, communicationSeconds: Double = 0) {
        self.totalSeconds = totalSeconds
        self.operatorSeconds = operatorSeconds
        self.operatorApplications = operatorApplications
        self.communicationSeconds = communicationSeconds
    }

    /// The sum of the phases of a run.
    public static func + (a: Timings, b: Timings) -> Timings {
        Timings(totalSeconds: a.totalSeconds + b.totalSeconds, operatorSeconds: a.operatorSeconds + b.operatorSeconds,
                operatorApplications: a.operatorApplications + b.operatorApplications,
                communicationSeconds: a.communicationSeconds + b.communicationSeconds)
    }

    private enum CodingKeys: String, CodingKey {
        case totalSeconds = "total_seconds", operatorSeconds = "operator_seconds", operatorApplications = "operator_applications",
             communicationSeconds = "communication_seconds", computeSeconds = "compute_seconds", setupSeconds = "setup_seconds"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(totalSeconds, forKey: .totalSeconds)
        try c.encode(operatorSeconds, forKey: .operatorSeconds)
        try c.encode(operatorApplications, forKey: .operatorApplications)
        try c.encode(communicationSeconds, forKey: .communicationSeconds)
        try c.encode(computeSeconds, forKey: .computeSeconds)
        try c.encodeIfPresent(setupSeconds, forKey: .setupSeconds)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(totalSeconds: try c.decode(Double.self, forKey: .totalSeconds),
                  operatorSeconds: try c.decode(Double.self, forKey: .operatorSeconds),
                  operatorApplications: try c.decode(Int.self, forKey: .operatorApplications),
                  communicationSeconds: try c.decode(Double.self, forKey: .communicationSeconds))
        setupSeconds = try c.decodeIfPresent(Double.self, forKey: .setupSeconds)
    }
}

/// How the samples were spread over processes.
public struct ParallelRecord: Codable, Sendable {
    public var ranks: Int
    /// Samples held by each rank, in rank order (contiguous blocks).
    public var samplesPerRank: [Int]
    /// Rank 0's collectives over the whole run.
    public var communicationCalls: Int
    public var communicationBytes: Int
    /// GEMM flops of one operator application over all ranks (``Architecture/flopsPerProduct(samples:)``;
    /// 0 for a job on data alone).
    public var flopsPerProduct: Double

    /// T samples over `communicator`'s ranks in contiguous blocks, its statistics so far, and the
    /// flops of one operator application over all ranks.
    public init(communicator c: any Communicator, totalSamples: Int, flopsPerProduct: Double) {
        self.init(ranks: c.size, samplesPerRank: (0..<c.size).map { c.block(of: totalSamples, rank: $0).count },
                  communicationCalls: c.statistics.calls, communicationBytes: c.statistics.bytes, flopsPerProduct: flopsPerProduct)
    }

    public init(ranks: Int, samplesPerRank: [Int], communicationCalls: Int, communicationBytes: Int, flopsPerProduct: Double) {
        self.ranks = ranks
        self.samplesPerRank = samplesPerRank
        self.communicationCalls = communicationCalls
        self.communicationBytes = communicationBytes
        self.flopsPerProduct = flopsPerProduct
    }

    private enum CodingKeys: String, CodingKey {
        case ranks, samplesPerRank = "samples_per_rank", communicationCalls = "communication_calls",
             communicationBytes = "communication_bytes", flopsPerProduct = "flops_per_product"
    }
}

/// Where a run ran.
public struct MachineRecord: Codable, Sendable {
    public var cpu: String
    public var cores: Int
    public var blasThreads: String
    /// The OpenBLAS kernel set and how it was chosen (``BLASKernel/description``).
    public var blasKernel: String
    public var ranks: Int
    /// Rank 0's host name.
    public var host: String

    public static func current(ranks: Int) -> MachineRecord {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let env = ProcessInfo.processInfo.environment
        return MachineRecord(cpu: cpu, cores: ProcessInfo.processInfo.activeProcessorCount,
                             blasThreads: env["OPENBLAS_NUM_THREADS"] ?? env["OMP_NUM_THREADS"] ?? "default (all cores)",
                             blasKernel: BLASKernel.description, ranks: ranks, host: ProcessInfo.processInfo.hostName)
    }

    private enum CodingKeys: String, CodingKey { case cpu, cores, blasThreads = "blas_threads", blasKernel = "blas_kernel", ranks, host }
}

/// The version of the JSON records' layout (``RunRecord``), checked by `python/wisp/record.schema.json`.
/// Raised whenever a field is renamed, removed or changes its type; a field added keeps it.
public let wispSchemaVersion = 1

/// One output file: what ran (version, commit, command, full configuration, typed settings,
/// machine), how long it took and how much memory it used, then the command's own result fields
/// at the top level. The layout of every command's record is the JSON Schema in
/// `python/wisp/record.schema.json` (its `schema_version` is ``wispSchemaVersion``).
///
/// `Settings` is the command's typed settings (numbers as numbers): the same values its
/// checkpoint fingerprint (``RunFingerprint``) is made from, with those that only decide when to
/// stop beside them.
public struct RunRecord<Settings: Encodable, Result: Encodable>: Encodable {
    public var command: String
    public var arguments: [String]
    /// The network, data and rank layout the run was on.
    public var subject: RunSubject
    /// The subcommand's own settings (solver, grid, matrix).
    public var settings: Settings
    public var machine: MachineRecord
    public var timings: Timings
    /// Rank 0's peak resident memory.
    public var peakMemoryBytes: Int
    /// Rank 0's peak resident memory against what must be held (``MemoryRecord``).
    public var memory: MemoryRecord
    /// The mean-field predictions and measured/predicted ratios, where computed.
    public var theory: TheoryBlock?
    public var result: Result

    /// A record of a run on `subject`, with the machine and peak memory measured now.
    public init(command: String, subject: RunSubject, settings: Settings, timings: Timings, theory: TheoryBlock? = nil, result: Result) {
        self.command = command
        self.arguments = Array(CommandLine.arguments.dropFirst())
        self.subject = subject
        self.settings = settings
        self.machine = .current(ranks: subject.parallel.ranks)
        self.timings = timings
        self.timings.setupSeconds = subject.setupSeconds
        self.peakMemoryBytes = ResourceUsage.peakResidentBytes()
        self.memory = MemoryRecord(peakBytes: peakMemoryBytes, weightsBytes: subject.weightsBytes, activationsBytes: subject.activationsBytes)
        self.theory = theory
        self.result = result
    }

    /// A record of `problem`'s run (an MLP).
    public init(command: String, problem: Problem, settings: Settings, timings: Timings, theory: TheoryBlock? = nil, result: Result) {
        self.init(command: command, subject: RunSubject(problem: problem), settings: settings, timings: timings, theory: theory, result: result)
    }

    /// A record of `problem`'s run (a network given as layers).
    public init(command: String, problem: LayerProblem, settings: Settings, timings: Timings, theory: TheoryBlock? = nil, result: Result) {
        self.init(command: command, subject: RunSubject(problem: problem), settings: settings, timings: timings, theory: theory, result: result)
    }

    private enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", version = "wisp_version", commit = "wisp_commit", command, arguments, architecture, configuration,
             settings, parameters, samples, machine, parallel, timings, peakMemoryBytes = "peak_memory_bytes", memory, created, theory
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(wispSchemaVersion, forKey: .schemaVersion)
        try c.encode(wispVersion, forKey: .version)
        try c.encode(wispBuildCommit, forKey: .commit)
        try c.encode(command, forKey: .command)
        try c.encode(arguments, forKey: .arguments)
        try c.encodeIfPresent(subject.architecture, forKey: .architecture)
        try c.encode(subject.configuration, forKey: .configuration)
        try c.encode(settings, forKey: .settings)
        try c.encode(subject.parameters, forKey: .parameters)
        try c.encode(subject.samples, forKey: .samples)
        try c.encode(machine, forKey: .machine)
        try c.encode(subject.parallel, forKey: .parallel)
        try c.encode(timings, forKey: .timings)
        try c.encode(peakMemoryBytes, forKey: .peakMemoryBytes)
        try c.encode(memory, forKey: .memory)
        try c.encode(ISO8601DateFormatter().string(from: Date()), forKey: .created)
        try c.encodeIfPresent(theory, forKey: .theory)
        try result.encode(to: encoder)
    }

    /// Pretty canonical JSON (``CanonicalJSON``: sorted keys, every number the shortest text
    /// that reads back as the same double), written atomically. A non-finite number anywhere
    /// in the record is an error naming its field, and then nothing is written.
    public func write(to path: String) throws {
        let data: Data
        do { data = try CanonicalJSON.encode(self, pretty: true) } catch let error as WispError { throw error } catch {
            throw WispError.output("cannot encode the result of \(command): \(error)")
        }
        try AtomicFile.createDirectory(forFile: path)
        try AtomicFile.write(data, to: path)
    }
}

/// A record with no settings of its own (`wisp theory`): `"settings": {}`.
public struct NoSettings: Codable, Sendable, Equatable {
    public init() {}
}

/// Rank 0's peak resident set against the objects a run must hold: θ in the precision of the
/// passes and the forward cache of its samples (``Problem/memoryFootprint``). Everything else
/// (solver vectors, per-layer scratch, Gram factors, the runtime) is the difference.
public struct MemoryRecord: Encodable, Sendable {
    /// VmHWM of rank 0.
    public var peakBytes: Int
    /// P × the scalar size of the passes.
    public var weightsBytes: Int
    /// The forward cache of rank 0's samples.
    public var activationsBytes: Int

    private enum CodingKeys: String, CodingKey {
        case peakBytes = "peak_bytes", weightsBytes = "weights_bytes", activationsBytes = "activations_bytes"
    }
}
