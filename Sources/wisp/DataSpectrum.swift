import ArgumentParser
import Foundation
import Wisp

struct DataSpectrum: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data-spectrum",
        abstract: "Eigenvalues of the inputs' correlation (1/T) XᵀX (= those of (1/T) X Xᵀ) and covariance matrices.",
        discussion: """
        Reads and preprocesses the inputs exactly like the other subcommands (--inputs, --samples, --pool, \
        --scale-pixels, --standardize; --target-column removes target columns from a CSV). All d eigenvalues by \
        LAPACK when d ≤ --dense-limit, else the --k largest by Lanczos. Writes JSON and a CSV beside it.
        """)

    @OptionGroup var data: DataOptions
    @Option(name: .customLong("input-dim"), help: "Input dimension d of Gaussian inputs (without --inputs).")
    var inputDim: Int = 512
    @Option(help: "Seed of the Gaussian inputs and the Lanczos start vector.")
    var seed: UInt64 = 0
    @Option(help: "auto (dense when d ≤ --dense-limit), dense (all d eigenvalues, LAPACK) or lanczos (the --k largest).")
    var method: DataSpectrumMethod = .auto
    @Option(name: .customLong("dense-limit"), help: "Largest d for the dense method under --method auto.")
    var denseLimit: Int = 2048
    @Option(name: .customLong("k"), help: "Eigenvalues computed by Lanczos.")
    var k: Int = 10
    @Option(help: "Lanczos tolerance: ‖A y − θ y‖ ≤ tol · |θ|.")
    var tol: Double = 1e-10
    @OptionGroup var out: OutputOptions

    func run() throws {
        var c = ProblemConfiguration()
        data.apply(to: &c)
        c.inputDimension = data.inputs == nil ? inputDim : nil
        c.seed = seed
        let communicator = Runtime.communicator
        if out.output.map(OutputPath.isStandardOutput) ?? false { Runtime.summaryToStandardError = true }
        let loaded = try communicator.agree { () throws -> LocalData in
            if Runtime.isLead {
                try OutputOptions.check(outputs: [out.output], siblings: ["csv"], inputs: [c.inputsPath, c.targetsPath, c.labelsPath])
            }
            guard data.inputs != nil || inputDim >= 1 else { throw ValidationError("--input-dim must be at least 1 (got \(inputDim))") }
            return try DataLoader.readLocal(c, gaussianDimension: inputDim, communicator: communicator)
        }
        try DataLoader.agreeOnShapes(loaded, communicator: communicator)
        let prepared = try DataLoader.finish(consume loaded, configuration: c, communicator: communicator)
        let settings = DataSpectrumSettings(method: method, denseLimit: denseLimit, count: k, tolerance: tol, seed: seed)
        let (result, timings) = try DataSpectrumJob.run(
            prepared, settings: settings,
            communicator: communicator, reporter: Runtime.progress("data-spectrum", quiet: out.quiet))
        guard Runtime.isLead else { return }
        let T = prepared.dataset.totalSamples
        // Files first, then the summary (a summary that cannot be written never loses them).
        var written: [String] = []
        if let path = out.output {
            try RunRecord(command: "data-spectrum", subject: RunSubject(data: DataRunConfiguration(c, samples: T, dimension: result.dimension),
                                                                                   communicator: communicator),
                          settings: settings, timings: timings, result: result).write(to: path)
            written.append(path)
            if !OutputPath.isStandardOutput(path) {
                let csv = OutputPath.sibling(of: path, extension: "csv")
                try AtomicFile.write(Data(DataSpectrumJob.csv(result).utf8), to: csv)
                written.append(csv)
            }
        }
        say("Wisp \(wispVersionAndCommit)")
        say("  data       T=\(T), d=\(result.dimension), \(data.inputs.map { "inputs \($0)" } ?? "Gaussian inputs, seed \(seed)")\(prepared.imageShape.map { ", images \($0[0])×\($0[1])" } ?? "")")
        for spectrum in [result.correlation, result.covariance] {
            let shown = spectrum.eigenvalues.prefix(5).map { String(format: "%.6e", $0) }.joined(separator: ", ")
            say("  \(spectrum.matrix)")
            say(String(format: "    %@: %d eigenvalues, largest %@%@; trace %.10e", spectrum.method.hasPrefix("dense") ? "dense" : "Lanczos",
                       spectrum.eigenvalues.count, shown, spectrum.eigenvalues.count > 5 ? ", …" : "", spectrum.trace))
        }
        say(Summary.timing(timings))
        if !written.isEmpty { say("  output     \(written.joined(separator: ", "))") }
    }
}

extension DataSpectrumMethod: ExpressibleByArgument {}
