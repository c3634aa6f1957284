/// Sums over all samples of a quantity each process holds for its own samples: what a
/// normalization layer needs for batch statistics (Karakida et al. eq. 14, 21: means over all T
/// samples). The network calls only this; the distributed layer implements it (every
/// ``Communicator`` is one, summing over processes), so networks never call MPI.
public protocol SampleReduction: AnyObject {
    /// Replaces `values` by their sums over all processes' samples (collective).
    func sumOverSamples(_ values: UnsafeMutableBufferPointer<Double>)
}

/// All samples are in this process: sums are already complete.
public final class LocalSamples: SampleReduction {
    public init() {}
    public func sumOverSamples(_ values: UnsafeMutableBufferPointer<Double>) {}
}
