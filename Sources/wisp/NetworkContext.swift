import Foundation
import Wisp

/// What a command states about the network it ran on, whichever kind (an MLP from the flags or
/// `--model`, or a network given as layers): the record's subject, the summary's header, the
/// network's part of a figure title, its checkpoint directory, and the mean-field theory block
/// (Karakida et al.; MLPs only, nil on layers). Lets one command body serve both kinds.
struct NetworkContext {
    let subject: RunSubject
    let header: String
    /// "L=3, widths 512, relu, T=512" or "layers from cnn.json, P=5958, T=512".
    let caption: String
    /// The checkpoint directory of `command` with these settings (collective); nil without `--checkpoint` or for a
    /// command that has none.
    let open: (_ command: String, _ settings: any Encodable, _ replicated: Bool) throws -> CheckpointDirectory?
    /// The theory block for the matrix measured (collective); nil outside the theory.
    let theory: ((CurvatureMatrix) -> TheoryBlock)?

    init(_ problem: Problem, checkpointing: CheckpointOptions?) {
        let a = problem.architecture
        subject = RunSubject(problem: problem)
        header = Summary.header(problem)
        caption = "L=\(a.depth), widths \(a.widths.dropFirst().dropLast().first.map(String.init) ?? "-"), \(a.activation.rawValue), T=\(problem.totalSamples)"
        open = { try checkpointing?.open($0, problem: problem, settings: $1, replicated: $2) }
        theory = { TheoryBlock.make(for: problem, matrix: $0) }
    }

    init(_ problem: LayerProblem, file: String, checkpointing: CheckpointOptions?) {
        subject = RunSubject(problem: problem)
        header = LayerSummary.header(problem, file: file)
        caption = "layers from \((file as NSString).lastPathComponent), P=\(problem.parameterCount), T=\(problem.totalSamples)"
        open = { try checkpointing?.open($0, problem: problem, settings: $1, replicated: $2) }
        theory = nil
    }
}
