import Foundation

/// The loss on a plane through the current parameters spanned by two unit eigenvectors u, v
/// of the Gauss–Newton matrix (Jacot et al. Fig. 3, the "narrow valley"):
///     L(a, b) = L(θ + a u + b v),   a, b ∈ [−r, r] on an n × n grid.
/// Cost: n² forward passes over all samples (collective; a layer network one more, back at θ).
public struct LossGrid: Codable, Sendable {
    /// 1-based indices of the eigenvectors of G along the x (a) and y (b) axes.
    public var xEigenvector: Int
    public var yEigenvector: Int
    public var xEigenvalue: Double
    public var yEigenvalue: Double
    public var radius: Double
    public var a: [Double]
    public var b: [Double]
    /// L at (a_i, b_j), row-major over b: index j·n + i.
    public var loss: [Double]

    private enum CodingKeys: String, CodingKey {
        case xEigenvector = "x_eigenvector", yEigenvector = "y_eigenvector", xEigenvalue = "x_eigenvalue",
             yEigenvalue = "y_eigenvalue", radius, a, b, loss
    }

    public static func measure(_ problem: some TrainableProblem, u: [Double], v: [Double], indices: (Int, Int), eigenvalues: (Double, Double),
                               radius: Double, points n: Int) throws -> LossGrid {
        guard n >= 2 else { throw WispError.invalidConfiguration("\(Setting.measureGridPoints) must be at least 2 (got \(n))") }
        guard radius > 0, radius.isFinite else { throw WispError.invalidConfiguration("\(Setting.measureGridRadius) must be positive (got \(radius))") }
        let theta = problem.parameterValues
        let axis = (0..<n).map { -radius + 2 * radius * Double($0) / Double(n - 1) }
        var loss = [Double](), point = theta
        for bj in axis {
            for ai in axis {
                point.withUnsafeMutableBufferPointer { p in
                    p.baseAddress!.update(from: theta, count: theta.count)
                    Double.axpy(n: theta.count, alpha: ai, x: u, y: p.baseAddress!)
                    Double.axpy(n: theta.count, alpha: bj, x: v, y: p.baseAddress!)
                }
                loss.append(try problem.evaluateLoss(at: point))
            }
        }
        // A layer network is left at the last point: back to θ (an MLP stays at θ throughout).
        if !(problem is Problem) { try problem.setParameters(theta) }
        return LossGrid(xEigenvector: indices.0, yEigenvector: indices.1, xEigenvalue: eigenvalues.0, yEigenvalue: eigenvalues.1,
                        radius: radius, a: axis, b: axis, loss: loss)
    }

    /// Columns a,b,loss.
    public var csv: String {
        var s = "a,b,loss\n"
        let n = a.count
        for j in 0..<b.count { for i in 0..<n { s += "\(a[i]),\(b[j]),\(loss[j * n + i])\n" } }
        return s
    }

    public func svg(title: String) -> String {
        SeriesPlot.heatMap(title: title, x: a, y: b, z: loss,
                           xLabel: String(format: "a (eigenvector %d of G, λ = %.3g)", xEigenvector, xEigenvalue),
                           yLabel: String(format: "b (eigenvector %d of G, λ = %.3g)", yEigenvector, yEigenvalue))
    }
}
