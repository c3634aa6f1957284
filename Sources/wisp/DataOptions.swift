import ArgumentParser
import Wisp

/// Flags that choose the samples, their targets and the input preprocessing (shared by every
/// subcommand, `data-spectrum` included).
struct DataOptions: ParsableArguments {
    @Option(help: "Samples T (the first T rows of the files). Default: all rows of the files, else 512.")
    var samples: Int?
    @Option(help: "Inputs: .npy (T × d or T × h × w, float64/float32), IDX (any dtype, e.g. MNIST images; also gzip-compressed, as MNIST and Fashion-MNIST ship) or .csv. Default: Gaussian N(0, I).")
    var inputs: String?
    @Option(help: "Real-valued targets T × C: .npy, IDX or .csv. Default: a teacher network's outputs.")
    var targets: String?
    @Option(help: "Integer class labels (T), one-hot encoded: .npy, IDX (e.g. MNIST labels, .gz too) or .csv.")
    var labels: String?
    @Option(name: .customLong("target-column"), help: ArgumentHelp(
        "CSV column (header name or 0-based number) of the targets or labels; repeat for several. Without --targets/--labels they come from the --inputs CSV, whose other columns are the inputs.",
        valueName: "column"))
    var targetColumn: [String] = []
    @Option(help: "Classes of --labels (C). Default: the largest label + 1.")
    var classes: Int?
    @Option(help: "Average-pool T × h × w image inputs over K × K windows (h, w multiples of K).")
    var pool: Int = 1
    @Flag(name: .customLong("scale-pixels"), help: "Divide the inputs by their largest value over all samples (digits: 16, MNIST: 255), to [0, 1].")
    var scalePixels = false
    @Flag(help: "Standardize each input feature to zero mean and unit variance over the T samples (constant features become 0).")
    var standardize = false

    /// Whether targets come from files (so C and T default to theirs).
    var hasTargets: Bool { targets != nil || labels != nil || !targetColumn.isEmpty }

    func apply(to c: inout ProblemConfiguration) {
        c.samples = samples ?? (inputs == nil && !hasTargets ? 512 : nil)
        c.inputsPath = inputs
        c.targetsPath = targets
        c.labelsPath = labels
        c.targetColumns = targetColumn.isEmpty ? nil : targetColumn
        c.classes = classes
        c.pool = pool
        c.scalePixels = scalePixels
        c.standardize = standardize
    }
}
