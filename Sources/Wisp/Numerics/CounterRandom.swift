import Foundation

/// Counter-based random numbers (Philox4x32-10; Salmon, Moraes, Dror, Shaw, SC'11 "Parallel
/// random numbers: as easy as 1, 2, 3"). The value at (seed, stream, index) is a pure function
/// of those three numbers, so weights, inputs and probe vectors are the same whatever the number
/// of samples, ranks or threads that ask for them.
///
/// Counter = (index lo, index hi, stream lo, stream hi), key = (seed lo, seed hi).
public struct CounterRandom: Sendable {
    public let seed: UInt64
    public let stream: UInt64

    public init(seed: UInt64, stream: RandomStream) {
        self.seed = seed
        self.stream = stream.id
    }

    /// The raw Philox4x32-10 block for `counter` under `key`.
    @inline(__always)
    public static func philox(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32))
        -> (UInt32, UInt32, UInt32, UInt32)
    {
        var (c0, c1, c2, c3) = counter
        var (k0, k1) = key
        for round in 0..<10 {
            if round > 0 { k0 &+= 0x9E37_79B9; k1 &+= 0xBB67_AE85 }
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
        }
        return (c0, c1, c2, c3)
    }

    @inline(__always)
    func block(_ index: UInt64) -> (UInt64, UInt64) {
        let r = Self.philox(
            counter: (UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32),
                      UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)),
            key: (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
        return (UInt64(r.0) | UInt64(r.1) << 32, UInt64(r.2) | UInt64(r.3) << 32)
    }

    /// Uniform in the open interval (0, 1) with 53 random bits.
    @inline(__always)
    static func unit(_ bits: UInt64) -> Double { (Double(bits >> 11) + 0.5) * 0x1p-53 }

    /// Standard normal N(0, 1) at `index` (Box–Muller on the two 64-bit halves of one block).
    @inline(__always)
    public func normal(_ index: Int) -> Double {
        let (a, b) = block(UInt64(index))
        return (-2 * Foundation.log(Self.unit(a))).squareRoot() * Foundation.cos(2 * Double.pi * Self.unit(b))
    }

    /// 64 uniformly random bits at `index`.
    @inline(__always)
    public func bits(_ index: Int) -> UInt64 { block(UInt64(index)).0 }

    /// ±1 with equal probability at `index`.
    @inline(__always)
    public func rademacher(_ index: Int) -> Double {
        block(UInt64(index)).0 & 1 == 0 ? 1 : -1
    }

    /// Writes `scale · normal(first + i)` into `out[i]`, in parallel chunks (the values do not
    /// depend on the chunking).
    public func fillNormal<S: BLASScalar>(_ out: UnsafeMutableBufferPointer<S>, first: Int = 0, scale: Double = 1) {
        let n = out.count
        let chunk = 1 << 16
        let chunks = (n + chunk - 1) / chunk
        nonisolated(unsafe) let base = out.baseAddress
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = c * chunk, hi = min(n, lo + chunk)
            for i in lo..<hi { base![i] = S(scale * normal(first + i)) }
        }
    }

    /// Writes `rademacher(first + i)` into `out[i]`.
    public func fillRademacher(_ out: UnsafeMutableBufferPointer<Double>, first: Int = 0) {
        for i in 0..<out.count { out[i] = rademacher(first + i) }
    }
}

/// The independent streams Wisp draws from; each maps to a distinct 64-bit stream id, so e.g.
/// the weights of layer 2 never share numbers with the inputs or with probe 7.
public enum RandomStream: Sendable, Equatable {
    case weights(layer: Int)
    case biases(layer: Int)
    case inputs
    case probe(Int)
    case lanczosStart
    /// The sample order of SGD epoch e.
    case batches(epoch: Int)

    public var id: UInt64 {
        switch self {
        case .weights(let l): return 1 << 56 | UInt64(l)
        case .biases(let l): return 2 << 56 | UInt64(l)
        case .inputs: return 3 << 56
        case .probe(let p): return 4 << 56 | UInt64(p)
        case .lanczosStart: return 5 << 56
        case .batches(let e): return 6 << 56 | UInt64(e)
        }
    }
}
