import XCTest
@testable import Wisp

/// The infinite-width NTK (``LimitingNTK``) against closed forms and against the empirical
/// kernel of a wide network.
final class LimitingNTKTests: XCTestCase {
    func architecture(_ phi: Activation, width: Int, depth: Int = 3, d: Int = 4) throws -> Architecture {
        try Architecture(depth: depth, width: width, inputDimension: d, outputs: 1, activation: phi, hasBias: true,
                         parametrization: .ntk, sigmaW2: 1, sigmaB2: 0.01)
    }

    /// Linear φ, L = 2: Σ̇² = σ_w², Σ² = σ_w² Σ¹ + β², so Θ² = 2σ_w² Σ¹ + β² exactly (the
    /// quadrature is exact for polynomials of degree 2).
    func testLinearClosedForm() throws {
        let a = try architecture(.linear, width: 7, depth: 2)
        let data = try Dataset.gaussian(totalSamples: 5, dimension: 4, seed: 2)
        let theta = try LimitingNTK.gram(architecture: a, inputs: data.values, samples: 5)
        for i in 0..<5 {
            for j in 0..<5 {
                var s = 0.0
                for k in 0..<4 { s += data.values[i * 4 + k] * data.values[j * 4 + k] }
                let sigma1 = s / 4 + 0.01
                XCTAssertEqual(theta[i * 5 + j], 2 * sigma1 + 0.01, accuracy: 1e-13)
            }
        }
    }

    /// The empirical kernel J Jᵀ of one wide network (M = 3000, three weight layers) against
    /// Θᴸ: its fluctuations are O(1/√M) ≈ 2 % relative; 8 % is a 4σ-type margin.
    func testWideNetworkApproachesLimit() throws {
        for phi in [Activation.softplus, .normalizedSoftplus, .tanh] {
            let a = try architecture(phi, width: 3000)
            let data = try Dataset.gaussian(totalSamples: 5, dimension: 4, seed: 3)
            let j = try BatchedJacobian(network: Network<Double>(architecture: a, seed: 11), inputs: data)
            let empirical = j.tangentKernel()
            let limit = try LimitingNTK.gram(architecture: a, inputs: data.values, samples: 5)
            let scale = limit.map(abs).max()!
            let worst = zip(empirical, limit).map { abs($0 - $1) }.max()! / scale
            XCTAssertLessThan(worst, 0.08, "\(phi): worst relative deviation \(worst)")
        }
    }

    func testStandardParametrizationRefused() throws {
        let a = try Architecture(depth: 3, width: 8, inputDimension: 4, outputs: 1)
        XCTAssertThrowsError(try LimitingNTK.gram(architecture: a, inputs: [Double](repeating: 0, count: 8), samples: 2))
    }
}
