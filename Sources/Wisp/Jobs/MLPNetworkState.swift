import Foundation

/// The precision-specific half of ``Problem``: an MLP's passes over this process's samples
/// (one ``BatchedJacobian``<S>), specialized for S while callers see Float64. The one place
/// that chooses the precision is ``makeMLPNetworkState(architecture:model:seed:precision:dataset:communicator:)``.
protocol MLPNetworkBox: AnyObject {
    func makeOperator(_ matrix: CurvatureMatrix, loss: LossEvaluation?) throws -> any LinearOperator
    func outputs() -> [Double]
    func vjp(_ u: [Double], scale: Double, extra: Int) -> [Double]
    func batchGradient(parameters: [Double], inputs: Dataset, targets: [Double], loss: Loss) throws -> [Double]
    func lossSum(parameters: [Double], targets: [Double], loss: Loss) throws -> Double
    func exactTrace() -> Double
    func gramRows() -> [Double]
    func rawOutputs() -> [Double]
    func network64() -> Network<Double>
    func makeLayerOperator(_ layer: Int) -> any LinearOperator
    func layerKernelFactors(layers: Set<Int>?, visit: (LayerKernelFactors) -> Void)
    var memoryFootprint: (weightsBytes: Int, activationsBytes: Int) { get }
    /// A teacher network's targets on this process's samples (``Targets/teacher(architecture:studentSeed:inputs:loss:precision:reduction:)``),
    /// in the precision of the passes.
    func teacherTargets(studentSeed: UInt64, loss: Loss) throws -> Targets
}

/// The passes of `architecture` in `precision` over `dataset` (one forward pass), θ from `model`
/// or, without one, drawn from `seed`. The Float32 draw rounds the same Float64 values the
/// Float64 draw stores (bit-identical to converting it, tested), without a Float64 copy of θ
/// (8P bytes: 17 GB at width 32768).
func makeMLPNetworkState(architecture: Architecture, model: Network<Double>?, seed: UInt64, precision: Precision, dataset: Dataset,
                         communicator: any Communicator) throws -> any MLPNetworkBox {
    switch precision {
    case .float64:
        return try MLPNetworkState(network: model ?? Network<Double>(architecture: architecture, seed: seed),
                                   dataset: dataset, communicator: communicator)
    case .float32:
        return try MLPNetworkState(network: try model?.converted(to: Float.self) ?? Network<Float>(architecture: architecture, seed: seed),
                                   dataset: dataset, communicator: communicator)
    }
}

final class MLPNetworkState<S: BLASScalar>: MLPNetworkBox {
    let jacobian: BatchedJacobian<S>
    let dataset: Dataset
    let communicator: any Communicator

    init(network: Network<S>, dataset: Dataset, communicator: any Communicator) throws {
        jacobian = try BatchedJacobian(network: network, inputs: dataset, reduction: communicator)
        self.dataset = dataset
        self.communicator = communicator
    }

    func makeOperator(_ matrix: CurvatureMatrix, loss: LossEvaluation?) throws -> any LinearOperator {
        let T = dataset.totalSamples
        switch matrix {
        case .fisher: return FisherOperator(jacobian: jacobian, totalSamples: T, communicator: communicator)
        case .ntk: return NTKGramOperator(jacobian: jacobian, samples: dataset.samples, totalSamples: T, communicator: communicator)
        case .ggn: return FisherOperator(jacobian: jacobian, totalSamples: T, communicator: communicator,
                                         outputHessian: loss!.outputHessian)
        case .hessian: return try HessianOperator(jacobian: jacobian, loss: loss!, part: .full, totalSamples: T, communicator: communicator)
        case .residual: return try HessianOperator(jacobian: jacobian, loss: loss!, part: .residual, totalSamples: T, communicator: communicator)
        }
    }

    func outputs() -> [Double] { jacobian.outputs.map { Double($0) } }

    var memoryFootprint: (weightsBytes: Int, activationsBytes: Int) {
        (jacobian.parameterCount * MemoryLayout<S>.stride, jacobian.forwardCacheBytes)
    }

    /// The Jacobian of the same architecture at other parameters θ on `inputs` (one forward pass).
    private func jacobian(at parameters: [Double], inputs: Dataset) throws -> BatchedJacobian<S> {
        let theta = S.self == Double.self ? parameters as! [S] : parameters.map { S($0) }
        return try BatchedJacobian(network: try Network<S>(architecture: jacobian.architecture, parameters: theta), inputs: inputs,
                                   reduction: communicator)
    }

    /// Σ ℓ_t over this process's samples at θ (one forward pass).
    func lossSum(parameters: [Double], targets: [Double], loss: Loss) throws -> Double {
        let j = try jacobian(at: parameters, inputs: dataset)
        return loss.evaluate(outputs: j.outputs.map { Double($0) }, targets: targets, columns: jacobian.outputCount).sum
    }

    /// (1/B) Σ J_tᵀ r_t over `inputs` at θ, followed by Σ ℓ_t (P + 1 values, unreduced).
    func batchGradient(parameters: [Double], inputs: Dataset, targets: [Double], loss: Loss) throws -> [Double] {
        let j = try jacobian(at: parameters, inputs: inputs)
        let e = loss.evaluate(outputs: j.outputs.map { Double($0) }, targets: targets, columns: jacobian.outputCount)
        var g = Self.transposeProduct(j, e.gradient, scale: 1 / Double(inputs.totalSamples), extra: 1)
        g[jacobian.parameterCount] = e.sum
        return g
    }

    func vjp(_ u: [Double], scale: Double, extra: Int) -> [Double] {
        Self.transposeProduct(jacobian, u, scale: scale, extra: extra)
    }

    /// α Jᵀ u in Float64 (P entries), followed by `extra` zeros for the caller's sums, so that one
    /// allreduce can carry them without reallocating the P-vector.
    private static func transposeProduct(_ j: BatchedJacobian<S>, _ u: [Double], scale: Double, extra: Int) -> [Double] {
        let P = j.parameterCount
        let uS = (S.self == Double.self ? u as! [S] : u.map { S($0) }) + (u.isEmpty ? [0] : [])
        if S.self == Double.self {
            var g = [Double](repeating: 0, count: P + extra)
            uS.withUnsafeBufferPointer { up in
                g.withUnsafeMutableBufferPointer { j.vjp(up.baseAddress!, alpha: S(scale), into: UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: S.self)) }
            }
            return g
        }
        var gS = [S](repeating: 0, count: P)
        uS.withUnsafeBufferPointer { up in gS.withUnsafeMutableBufferPointer { j.vjp(up.baseAddress!, alpha: S(scale), into: $0.baseAddress!) } }
        var g = [Double](repeating: 0, count: P + extra)
        g.withUnsafeMutableBufferPointer { gp in gS.withUnsafeBufferPointer { S.convert($0.baseAddress!, to: gp.baseAddress!, count: P) } }
        return g
    }

    func exactTrace() -> Double {
        FisherMoments.trace(jacobian, totalSamples: dataset.totalSamples, communicator: communicator)
    }

    func gramRows() -> [Double] {
        FisherMoments.gramRows(jacobian, totalSamples: dataset.totalSamples, communicator: communicator)
    }

    func rawOutputs() -> [Double] { jacobian.rawOutputs.map { Double($0) } }

    func network64() -> Network<Double> {
        if S.self == Double.self { return jacobian.network as! Network<Double> }
        return try! Network<Double>(architecture: jacobian.network.architecture, parameters: jacobian.network.parameters.map { Double($0) })
    }

    func teacherTargets(studentSeed: UInt64, loss: Loss) throws -> Targets {
        try Targets.teacher(architecture: jacobian.architecture, studentSeed: studentSeed, inputs: dataset, loss: loss, precision: S.self,
                            reduction: communicator)
    }

    func makeLayerOperator(_ layer: Int) -> any LinearOperator {
        LayerKernelOperator(jacobian: jacobian, layer: layer, samples: dataset.samples, totalSamples: dataset.totalSamples,
                            communicator: communicator)
    }

    func layerKernelFactors(layers: Set<Int>?, visit: (LayerKernelFactors) -> Void) {
        let communicator = self.communicator, total = dataset.totalSamples
        jacobian.layerKernelFactors(layers: layers, gather: { local, rowsPerSample, columns in
            let counts = (0..<communicator.size).map { communicator.block(of: total, rank: $0).count * rowsPerSample * columns }
            return communicator.allgather(local, counts: counts)
        }, visit: visit)
    }
}
