/// Layers applied one after another, f = f_k ∘ … ∘ f_1, as one ``Layer`` (the body of a
/// ``Residual`` and the core of ``LayerSequence``). θ is the concatenation of the layers'
/// blocks in order. By the chain rule, with x_0 = x and x_i = f_i(x_(i−1)):
///
///     JVP  ẋ_i = (∂f_i/∂x) ẋ_(i−1) + (∂f_i/∂θ_i) θ̇_i,   ẋ_0 = ẋ
///     VJP  x̄_k = ȳ,  θ̄_i = α (∂f_i/∂θ_i)ᵀ x̄_i,  x̄_(i−1) = (∂f_i/∂x)ᵀ x̄_i
///
/// and the R-operator (forward-over-reverse), with the tangents ẋ_i of the JVP kept:
///
///     R-op  (x̄_k, Rx̄_k) = (ȳ, Rȳ),  then for i = k…1 layer i's R-op at (x_(i−1), ẋ_(i−1), θ̇_i)
///           gives x̄_(i−1), Rx̄_(i−1) and Rθ̄_i
///
/// Cost: the sum of the layers' costs (an R-op: one JVP plus the layers' R-ops). Memory: each
/// intermediate x_i (n·count_i scalars) and two scratch blocks of the largest intermediate for
/// the tangents and cotangents; the R-op adds each ẋ_i and two more scratch blocks.
final class LayerChain<S: BLASScalar>: Layer {
    typealias Scalar = S
    let layers: [any Layer<S>]
    /// Offset of layer i's block in θ.
    let offsets: [Int]
    let parameterCount: Int
    let inputShape: TensorShape
    let outputShape: TensorShape
    var kind: String { "sequential" }
    private var batch = 0
    /// x_1 … x_(k−1).
    private let intermediates: [LayerBuffer<S>]
    private let pingPong = [LayerBuffer<S>(), LayerBuffer<S>()]
    /// ẋ_1 … ẋ_(k−1) of the last ``jvpKeepingTangents(_:parameters:inputTangent:parameterTangent:into:)``.
    private let tangents: [LayerBuffer<S>]
    private let rPingPong = [LayerBuffer<S>(), LayerBuffer<S>()]

    /// Throws, naming the layer index (0-based, as in `nn.Sequential`) and kind and both
    /// shapes, when layer i's input shape is not layer i−1's output shape.
    init(layers: [any Layer<S>], context: String = "") throws {
        guard let first = layers.first else { throw WispError.invalidConfiguration("\(context)a network needs at least one layer") }
        for i in layers.indices.dropFirst() where layers[i].inputShape != layers[i - 1].outputShape {
            throw WispError.invalidConfiguration(
                "\(context)layer \(i) (\(layers[i].kind)) takes input \(layers[i].inputShape) but layer \(i - 1) (\(layers[i - 1].kind)) gives \(layers[i - 1].outputShape)")
        }
        self.layers = layers
        var o = 0
        offsets = layers.map { l in defer { o += l.parameterCount }; return o }
        parameterCount = o
        inputShape = first.inputShape
        outputShape = layers.last!.outputShape
        intermediates = layers.dropLast().map { _ in LayerBuffer<S>() }
        tangents = layers.dropLast().map { _ in LayerBuffer<S>() }
    }

    var parameterTensors: [ParameterTensor] { layers.flatMap { $0.parameterTensors } }

    var couplesSamples: Bool { layers.contains { $0.couplesSamples } }

    func flops(batch n: Int) -> LayerFlops { layers.reduce(.zero) { $0 + $1.flops(batch: n) } }

    private var largestIntermediate: Int { layers.dropLast().map { $0.outputShape.count }.max() ?? 0 }

    /// The input of layer i.
    @inline(__always) private func input(_ i: Int, _ x: UnsafePointer<S>) -> UnsafePointer<S> {
        i == 0 ? x : UnsafePointer(intermediates[i - 1].pointer)
    }

    func forward(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, batch n: Int, into y: UnsafeMutablePointer<S>) {
        batch = n
        for i in layers.indices {
            let out = i == layers.count - 1 ? y : intermediates[i].reserve(n * layers[i].outputShape.count)
            layers[i].forward(input(i, x), parameters: theta + offsets[i], batch: n, into: out)
        }
        for b in pingPong { b.reserve(n * largestIntermediate) }
    }

    func jvp(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
             parameterTangent dtheta: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>) {
        var tangent = dx
        for i in layers.indices {
            let out = i == layers.count - 1 ? dy : pingPong[i % 2].pointer
            layers[i].jvp(input(i, x), parameters: theta + offsets[i], inputTangent: tangent,
                          parameterTangent: dtheta.map { $0 + offsets[i] }, into: out)
            tangent = UnsafePointer(out)
        }
    }

    func vjp(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, cotangent dy: UnsafePointer<S>,
             inputCotangent dx: UnsafeMutablePointer<S>?, parameterCotangent dtheta: UnsafeMutablePointer<S>?, alpha: S) {
        var cotangent = dy
        for i in layers.indices.reversed() {
            let out: UnsafeMutablePointer<S>? = i == 0 ? dx : pingPong[(i - 1) % 2].pointer
            layers[i].vjp(input(i, x), parameters: theta + offsets[i], cotangent: cotangent, inputCotangent: out,
                          parameterCotangent: dtheta.map { $0 + offsets[i] }, alpha: alpha)
            if let out { cotangent = UnsafePointer(out) }
        }
    }

    // MARK: R-operator

    /// The JVP keeping every intermediate tangent ẋ_i for ``rBackward``; the output tangent
    /// goes to `dy` (nil: the last layer's JVP is skipped).
    func jvpKeepingTangents(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                            parameterTangent dtheta: UnsafePointer<S>?, into dy: UnsafeMutablePointer<S>?) {
        var tangent = dx
        for i in layers.indices {
            let out: UnsafeMutablePointer<S>
            if i == layers.count - 1 {
                guard let dy else { break }
                out = dy
            } else {
                out = tangents[i].reserve(batch * layers[i].outputShape.count)
            }
            layers[i].jvp(input(i, x), parameters: theta + offsets[i], inputTangent: tangent,
                          parameterTangent: dtheta.map { $0 + offsets[i] }, into: out)
            tangent = UnsafePointer(out)
        }
    }

    /// The backward R-pass after ``jvpKeepingTangents`` with the same ẋ and θ̇.
    func rBackward(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>, inputTangent dx: UnsafePointer<S>?,
                   parameterTangent dtheta: UnsafePointer<S>?, cotangent dy: UnsafePointer<S>, cotangentTangent rdy: UnsafePointer<S>?,
                   inputCotangent xbar: UnsafeMutablePointer<S>?, inputCotangentTangent rxbar: UnsafeMutablePointer<S>?,
                   parameterCotangentTangent rtheta: UnsafeMutablePointer<S>?, alpha: S) {
        let m = batch * largestIntermediate
        for b in pingPong + rPingPong { b.reserve(m) }
        var (c, rc) = (dy, rdy)
        for i in layers.indices.reversed() {
            let outC = i == 0 ? xbar : pingPong[(i - 1) % 2].pointer
            let outR = i == 0 ? rxbar : rPingPong[(i - 1) % 2].pointer
            layers[i].rOperator(input(i, x), parameters: theta + offsets[i],
                                inputTangent: i == 0 ? dx : UnsafePointer(tangents[i - 1].pointer),
                                parameterTangent: dtheta.map { $0 + offsets[i] }, cotangent: c, cotangentTangent: rc,
                                inputCotangent: outC, inputCotangentTangent: outR,
                                parameterCotangentTangent: rtheta.map { $0 + offsets[i] }, alpha: alpha)
            if i > 0 { (c, rc) = (UnsafePointer(outC!), UnsafePointer(outR!)) }
        }
    }

    func rOperator(_ x: UnsafePointer<S>, parameters theta: UnsafePointer<S>,
                   inputTangent dx: UnsafePointer<S>?, parameterTangent dtheta: UnsafePointer<S>?,
                   cotangent dy: UnsafePointer<S>, cotangentTangent rdy: UnsafePointer<S>?,
                   inputCotangent xbar: UnsafeMutablePointer<S>?, inputCotangentTangent rxbar: UnsafeMutablePointer<S>?,
                   parameterCotangentTangent rtheta: UnsafeMutablePointer<S>?, alpha: S) {
        jvpKeepingTangents(x, parameters: theta, inputTangent: dx, parameterTangent: dtheta, into: nil)
        rBackward(x, parameters: theta, inputTangent: dx, parameterTangent: dtheta, cotangent: dy, cotangentTangent: rdy,
                  inputCotangent: xbar, inputCotangentTangent: rxbar, parameterCotangentTangent: rtheta, alpha: alpha)
    }
}
