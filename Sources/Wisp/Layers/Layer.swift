/// One layer of a network given as a sequence of layers (``LayerSequence``): a map
/// y = f(x; θ) applied to every sample of a batch, with hand-written forward, tangent (JVP)
/// and adjoint (VJP) passes over the whole batch.
///
/// Conventions shared by every layer:
/// - A batch of n samples is row-major, n × ``inputShape``.count in and n × ``outputShape``.count
///   out; image samples are [channels, height, width] (PyTorch's NCHW).
/// - θ (``parameterCount`` scalars) is the layer's block of the network's parameter vector:
///   its tensors in PyTorch state-dict order (``parameterTensors``, weight then bias), each
///   row-major in PyTorch's layout.
/// - ``forward(_:parameters:batch:into:)`` caches what the passes need (slopes, window maxima,
///   patch matrices) for that batch; ``jvp(_:parameters:inputTangent:parameterTangent:into:)``
///   and ``vjp(_:parameters:cotangent:inputCotangent:parameterCotangent:alpha:)`` must get the
///   same x and θ and use that cache. The JVP writes ẏ = (∂y/∂x) ẋ + (∂y/∂θ) θ̇ (a nil tangent
///   is zero); the VJP writes x̄ = (∂y/∂x)ᵀ ȳ and θ̄ = α (∂y/∂θ)ᵀ ȳ (overwriting; nil: not
///   wanted). Output buffers never alias inputs.
///
/// The R-operator (Pearlmutter 1994; forward-over-reverse) is the derivative of the VJP along a
/// direction: with R{·} = d/dε (·)(x + εẋ, θ + εθ̇, ȳ + ε Rȳ)|₀,
///
///     x̄ = (∂y/∂x)ᵀ ȳ,   R{x̄} = (∂y/∂x)ᵀ Rȳ + Σ_i ȳ_i ∇²_(x,(x,θ)) y_i · (ẋ, θ̇)
///     θ̄ = (∂y/∂θ)ᵀ ȳ,   R{θ̄} = (∂y/∂θ)ᵀ Rȳ + Σ_i ȳ_i ∇²_(θ,(x,θ)) y_i · (ẋ, θ̇)
///
/// ``rOperator(_:parameters:inputTangent:parameterTangent:cotangent:cotangentTangent:inputCotangent:inputCotangentTangent:parameterCotangentTangent:alpha:)``
/// writes x̄, R{x̄} and α R{θ̄} in one backward step: chained through the layers from the top
/// (ȳ = ∂L/∂f, Rȳ = H_ℓ J v) it yields the Hessian-vector product H v of a loss
/// (``LayerSequence/hessianVectorProduct(_:signal:topTangent:into:)``).
///
/// Not thread-safe: a layer holds the cache of the batch it last ran forward.
public protocol Layer<Scalar>: AnyObject {
    associatedtype Scalar: BLASScalar
    /// The layer's kind as written in architecture descriptions ("dense", "conv2d", …).
    var kind: String { get }
    var inputShape: TensorShape { get }
    var outputShape: TensorShape { get }
    /// The layer's parameters (its block of θ).
    var parameterCount: Int { get }
    /// The parameter tensors in state-dict order, with their PyTorch shapes and fan-in.
    var parameterTensors: [ParameterTensor] { get }
    /// Flops of the passes over `batch` samples (GEMMs at 2mnk, loops at one per multiply-add).
    func flops(batch: Int) -> LayerFlops
    /// y = f(x; θ) for `batch` samples; caches what the JVP and VJP need.
    func forward(_ x: UnsafePointer<Scalar>, parameters: UnsafePointer<Scalar>, batch: Int, into y: UnsafeMutablePointer<Scalar>)
    /// ẏ = (∂y/∂x) ẋ + (∂y/∂θ) θ̇ at the cached batch.
    func jvp(_ x: UnsafePointer<Scalar>, parameters: UnsafePointer<Scalar>, inputTangent: UnsafePointer<Scalar>?,
             parameterTangent: UnsafePointer<Scalar>?, into y: UnsafeMutablePointer<Scalar>)
    /// x̄ = (∂y/∂x)ᵀ ȳ and θ̄ = α (∂y/∂θ)ᵀ ȳ at the cached batch.
    func vjp(_ x: UnsafePointer<Scalar>, parameters: UnsafePointer<Scalar>, cotangent: UnsafePointer<Scalar>,
             inputCotangent: UnsafeMutablePointer<Scalar>?, parameterCotangent: UnsafeMutablePointer<Scalar>?, alpha: Scalar)
    /// The R-operator of the VJP at the cached batch, along (ẋ, θ̇) (nil: zero) with the
    /// cotangent ȳ moving by Rȳ (nil: zero): x̄ = (∂y/∂x)ᵀ ȳ, R{x̄} and R{θ̄} scaled by α (see
    /// the protocol's documentation; each output nil: not wanted). Cost: about one JVP plus two
    /// VJPs of the layer (bilinear layers: the VJP of Rȳ plus the two cross terms).
    func rOperator(_ x: UnsafePointer<Scalar>, parameters: UnsafePointer<Scalar>,
                   inputTangent: UnsafePointer<Scalar>?, parameterTangent: UnsafePointer<Scalar>?,
                   cotangent: UnsafePointer<Scalar>, cotangentTangent: UnsafePointer<Scalar>?,
                   inputCotangent: UnsafeMutablePointer<Scalar>?, inputCotangentTangent: UnsafeMutablePointer<Scalar>?,
                   parameterCotangentTangent: UnsafeMutablePointer<Scalar>?, alpha: Scalar)
    /// Whether one sample's output depends on other samples of the batch (batch normalization
    /// with batch statistics). Then J has no per-sample block structure, and the passes need
    /// every process to take part (their statistics are sums over all samples). Default false.
    var couplesSamples: Bool { get }
}

extension Layer {
    public var couplesSamples: Bool { false }

    /// The R-operator of a layer linear in x without parameters (pooling, flatten): the
    /// second-order term vanishes, x̄ = Aᵀ ȳ and R{x̄} = Aᵀ Rȳ (max pooling is piecewise linear:
    /// A routes by the cached argmax, fixed for small steps without ties).
    func linearROperator(_ x: UnsafePointer<Scalar>, parameters: UnsafePointer<Scalar>, batch n: Int,
                         cotangent dy: UnsafePointer<Scalar>, cotangentTangent rdy: UnsafePointer<Scalar>?,
                         inputCotangent xbar: UnsafeMutablePointer<Scalar>?, inputCotangentTangent rxbar: UnsafeMutablePointer<Scalar>?) {
        if let xbar { vjp(x, parameters: parameters, cotangent: dy, inputCotangent: xbar, parameterCotangent: nil, alpha: 1) }
        if let rxbar {
            if let rdy {
                vjp(x, parameters: parameters, cotangent: rdy, inputCotangent: rxbar, parameterCotangent: nil, alpha: 1)
            } else {
                rxbar.update(repeating: 0, count: n * inputShape.count)
            }
        }
    }
}

/// One parameter tensor of a layer: its state-dict suffix ("weight", "bias"), its PyTorch
/// shape, and its fan-in (inputs per output unit: in_features, or in_channels·kh·kw), which
/// sets the He/LeCun initialization scale.
public struct ParameterTensor: Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let fanIn: Int
    /// PyTorch's constant initial value (1 for a normalization layer's weight γ), or nil: a
    /// weight drawn with the fan-in scale, a bias 0.
    public let initialValue: Double?
    public var count: Int { shape.reduce(1, *) }
    public init(name: String, shape: [Int], fanIn: Int, initialValue: Double? = nil) {
        self.name = name
        self.shape = shape
        self.fanIn = fanIn
        self.initialValue = initialValue
    }
}

/// Flops of one layer's passes over a batch (the JVP with both tangents, the VJP with both
/// cotangents).
public struct LayerFlops: Equatable, Sendable {
    public var forward: Double
    public var jvp: Double
    public var vjp: Double
    public init(forward: Double, jvp: Double, vjp: Double) {
        self.forward = forward
        self.jvp = jvp
        self.vjp = vjp
    }
    public static func + (a: Self, b: Self) -> Self {
        Self(forward: a.forward + b.forward, jvp: a.jvp + b.jvp, vjp: a.vjp + b.vjp)
    }
    public static let zero = Self(forward: 0, jvp: 0, vjp: 0)
}

/// Scratch or cache memory of a layer, grown on demand (its contents are lost when it grows).
/// Raw memory rather than an array, so that several buffers of one layer can be passed to BLAS
/// at once without overlapping exclusive accesses.
final class LayerBuffer<S: BLASScalar> {
    private(set) var pointer: UnsafeMutablePointer<S>
    private(set) var count: Int

    init(count: Int = 0) {
        self.count = max(count, 1)
        pointer = .allocate(capacity: self.count)
        pointer.initialize(repeating: 0, count: self.count)
    }

    deinit { pointer.deallocate() }

    /// Makes room for `n` scalars; returns the (possibly new) memory.
    @discardableResult
    func reserve(_ n: Int) -> UnsafeMutablePointer<S> {
        if n > count {
            pointer.deallocate()
            count = n
            pointer = .allocate(capacity: n)
            pointer.initialize(repeating: 0, count: n)
        }
        return pointer
    }

    /// Makes room for `n` scalars and fills them with `value`.
    @discardableResult
    func fill(_ n: Int, with value: S) -> UnsafeMutablePointer<S> {
        reserve(n)
        pointer.update(repeating: value, count: n)
        return pointer
    }

    func array(_ n: Int) -> [S] { Array(UnsafeBufferPointer(start: pointer, count: n)) }
}

/// y ← y + α x over n scalars.
@inline(__always)
func addInPlace<S: BLASScalar>(_ y: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, scale alpha: S, count n: Int) {
    S.axpy(n: n, alpha: alpha, x: x, y: y)
}

/// y ← y + x over n scalars.
@inline(__always)
func addInPlace<S: BLASScalar>(_ y: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, count n: Int) {
    S.axpy(n: n, alpha: 1, x: x, y: y)
}
