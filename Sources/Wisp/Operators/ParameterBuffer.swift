/// Moves Float64 solver vectors into and out of the precision `S` of the passes. For
/// `S == Double` the solver's own memory is used directly (no copy of the vector); for Float32
/// the vector is converted once per application into a preallocated buffer, which one
/// application may use first for its input and then for its output.
struct ParameterBuffer<S: BLASScalar> {
    private var storage: [S]

    init(count: Int) {
        storage = S.self == Double.self ? [] : [S](repeating: 0, count: max(count, 1))
    }

    /// Calls `body` with x in precision `S`.
    mutating func withInput<R>(_ x: UnsafePointer<Double>, count: Int, _ body: (UnsafePointer<S>) -> R) -> R {
        if S.self == Double.self {
            return body(UnsafeRawPointer(x).assumingMemoryBound(to: S.self))
        }
        return storage.withUnsafeMutableBufferPointer { s in
            S.convert(x, to: s.baseAddress!, count: count)
            return body(s.baseAddress!)
        }
    }

    /// Calls `body` with a buffer in precision `S` whose contents end up in y.
    mutating func withOutput<R>(_ y: UnsafeMutablePointer<Double>, count: Int, _ body: (UnsafeMutablePointer<S>) -> R) -> R {
        if S.self == Double.self {
            return body(UnsafeMutableRawPointer(y).assumingMemoryBound(to: S.self))
        }
        return storage.withUnsafeMutableBufferPointer { s in
            let r = body(s.baseAddress!)
            S.convert(UnsafePointer(s.baseAddress!), to: y, count: count)
            return r
        }
    }
}
