import Foundation
import Wisp

extension DenseReference {
    /// f for all samples at once (T × C), by the definitions of Karakida et al. eq. 13–15,
    /// 20–21, 23–24 with plain loops: needed because batch statistics couple the samples.
    public static func allOutputs(architecture a: Architecture, parameters theta: [Double], inputs: Dataset) -> [Double] {
        let T = inputs.samples.count
        var h = inputs.values   // T × width
        for l in 1...a.depth {
            let (fanIn, fanOut) = (a.widths[l - 1], a.widths[l])
            var u = [Double](repeating: 0, count: T * fanOut)
            for t in 0..<T {
                for i in 0..<fanOut {
                    var s = 0.0
                    for j in 0..<fanIn { s += theta[a.weightOffset(l) + i * fanIn + j] * h[t * fanIn + j] }
                    u[t * fanOut + i] = a.weightScale(l) * s + (a.hasBias(l) ? a.biasScale * theta[a.biasOffset(l) + i] : 0)
                }
            }
            switch a.normalization.kind(layer: l, depth: a.depth) {
            case .batchMean?, .batch?:
                let scaleToo = a.normalization.kind(layer: l, depth: a.depth) == .batch
                for i in 0..<fanOut {
                    let mean = (0..<T).reduce(0.0) { $0 + u[$1 * fanOut + i] } / Double(T)
                    let variance = (0..<T).reduce(0.0) { $0 + pow(u[$1 * fanOut + i] - mean, 2) } / Double(T)
                    for t in 0..<T { u[t * fanOut + i] = (u[t * fanOut + i] - mean) / (scaleToo ? variance.squareRoot() : 1) }
                }
            case .layer?:
                for t in 0..<T {
                    let row = Array(u[(t * fanOut)..<((t + 1) * fanOut)])
                    let mean = row.reduce(0, +) / Double(fanOut)
                    let sd = (row.reduce(0.0) { $0 + pow($1 - mean, 2) } / Double(fanOut)).squareRoot()
                    for i in 0..<fanOut { u[t * fanOut + i] = (row[i] - mean) / sd }
                }
            case nil:
                break
            }
            h = l < a.depth ? u.map { a.activation.value($0) } : u
        }
        return h
    }

    /// Central differences of ``allOutputs(architecture:parameters:inputs:)``: TC × P.
    public static func finiteDifferenceJacobianAllSamples(architecture a: Architecture, parameters theta: [Double],
                                                          inputs: Dataset, step h: Double = 6e-6) -> [Double] {
        let rows = inputs.samples.count * a.outputs, P = a.parameterCount
        var J = [Double](repeating: 0, count: rows * P)
        var p = theta
        for i in 0..<P {
            p[i] = theta[i] + h
            let plus = allOutputs(architecture: a, parameters: p, inputs: inputs)
            p[i] = theta[i] - h
            let minus = allOutputs(architecture: a, parameters: p, inputs: inputs)
            p[i] = theta[i]
            for r in 0..<rows { J[r * P + i] = (plus[r] - minus[r]) / (2 * h) }
        }
        return J
    }
}
