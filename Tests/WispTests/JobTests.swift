import XCTest
@testable import Wisp

/// The jobs the CLI runs: the sample-space ↔ parameter-space mapping of densities and moments,
/// and agreement between exact and stochastic moments.
final class JobTests: XCTestCase {
    func problem(outputs: Int = 2) throws -> Problem {
        var c = ProblemConfiguration()
        c.width = 30
        c.samples = 20
        c.outputs = outputs
        c.activation = .tanh
        c.sigmaB2 = 0.1
        return try Problem(c)
    }

    /// SLQ moments of F from sample-space probes, mapped by tr(Fᵖ)/P = (TC/P) tr(Kᵖ)/TC, agree with
    /// the exact tr F/P and ‖K‖²_F/P within 4 standard errors; the zero mass is the null space.
    func testSampleSpaceDensityMapsToFisher() throws {
        let p = try problem()
        let (moments, _) = try MomentsJob.run(p, exactLimit: 10_000, probes: 2, seed: 0)
        let (d, _) = try DensityJob.run(p, matrix: .ntk, settings: SLQSettings(probes: 40, steps: 30, seed: 1), grid: DensitySettings())
        let m1 = d.moments[0], m2 = d.moments[1]
        XCTAssertEqual(m1.exact!, moments.meanEigenvalue, accuracy: 1e-14)
        XCTAssertLessThan(abs(m1.estimate - moments.meanEigenvalue), 4 * m1.standardError)
        XCTAssertLessThan(abs(m2.estimate - moments.secondMoment), 4 * m2.standardError)
        let s = Double(p.sampleSpaceDimension) / Double(p.parameterCount)
        XCTAssertEqual(d.nullSpaceFraction, 1 - s, accuracy: 1e-15)
        XCTAssertGreaterThanOrEqual(d.density.zeroMass, 1 - s)
        XCTAssertLessThan(d.density.zeroMass, 1 - s + 1e-6, "K (TC = 40) has no zero eigenvalues here")
        // Parameter-space probes estimate the same moments.
        let (f, _) = try DensityJob.run(p, matrix: .fisher, settings: SLQSettings(probes: 40, steps: 30, seed: 1), grid: DensitySettings())
        XCTAssertLessThan(abs(f.moments[0].estimate - moments.meanEigenvalue), 4 * f.moments[0].standardError)
    }

    func testHutchinsonSecondMomentAgreesWithExact() throws {
        let p = try problem()
        let (exact, _) = try MomentsJob.run(p, exactLimit: 10_000, probes: 2, seed: 0)
        let (hutch, timings) = try MomentsJob.run(p, exactLimit: 0, probes: 60, seed: 4)
        XCTAssertEqual(hutch.probes, 60)
        XCTAssertEqual(timings.operatorApplications, 60)
        XCTAssertLessThan(abs(hutch.secondMoment - exact.secondMoment), 4 * hutch.secondMomentStandardError)
        XCTAssertEqual(hutch.trace, exact.trace)
    }

    func testFisherAndNTKGiveTheSameTopEigenvalues() throws {
        let p = try problem()
        let settings = LanczosSettings(count: 3, tolerance: 1e-10)
        let (f, _) = try TopJob.run(p, matrix: .fisher, settings: settings)
        let (k, t) = try TopJob.run(p, matrix: .ntk, settings: settings)
        for (a, b) in zip(f.eigenvalues, k.eigenvalues) { XCTAssertEqual(a, b, accuracy: 1e-9 * a) }
        XCTAssertEqual(t.operatorApplications, k.operatorApplications)
    }

    func testConfigurationErrors() throws {
        var c = ProblemConfiguration()
        c.width = 0
        XCTAssertThrowsError(try Problem(c)) { XCTAssertTrue("\($0)".contains("\(Setting.width)")) }
        c = ProblemConfiguration()
        c.samples = nil
        XCTAssertThrowsError(try Problem(c)) { XCTAssertTrue("\($0)".contains("\(Setting.samples)")) }
        c = ProblemConfiguration()
        c.sigmaW2 = -1
        XCTAssertThrowsError(try Problem(c)) { XCTAssertTrue("\($0)".contains("\(Setting.sigmaW2)")) }
    }
}
