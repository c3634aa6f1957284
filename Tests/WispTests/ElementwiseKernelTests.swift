import Foundation
import XCTest
@testable import Wisp
import WispTestSupport

/// The elementwise kernels of the forward pass: the branch-free tanh, the parallel chunking of
/// the activations, and the BLAS kernel choice.
final class ElementwiseKernelTests: XCTestCase {
    /// Within 2 ulp of the C library's tanh (itself within 1 ulp of the true value) on 10⁶
    /// points spread over every regime: tiny, the rational branch |x| < 0.625, the exponential
    /// branch, and saturation; and exact at the special values.
    func testTanhWithinTwoUlpOfLibm() {
        var worst = 0.0, worstX = 0.0
        let r = CounterRandom(seed: 7, stream: .inputs)
        for i in 0..<1_000_000 {
            let z = r.normal(i)
            // Magnitudes from 1e-12 to 30, both signs.
            let x = i % 2 == 0 ? z * 8 : (z < 0 ? -1 : 1) * Foundation.pow(10, -12 + 13.5 * (abs(z) / 4).truncatingRemainder(dividingBy: 1))
            let got = HyperbolicTangent.value(x), want = Foundation.tanh(x)
            let ulps = abs(got - want) / want.ulp.magnitude
            if ulps > worst { worst = ulps; worstX = x }
        }
        XCTAssertLessThanOrEqual(worst, 2, "worst at x = \(worstX)")
        for x in [0.625, -0.625, 0.625.nextDown, 22, 22.0.nextDown, 1e-300, 5e-324, 19.06, 700, 1e308] {
            XCTAssertLessThanOrEqual(abs(HyperbolicTangent.value(x) - Foundation.tanh(x)), 2 * Foundation.tanh(x).ulp, "x = \(x)")
        }
        XCTAssertEqual(HyperbolicTangent.value(0).bitPattern, (0.0).bitPattern)
        XCTAssertEqual(HyperbolicTangent.value(-0.0).bitPattern, (-0.0).bitPattern)
        XCTAssertEqual(HyperbolicTangent.value(.infinity), 1)
        XCTAssertEqual(HyperbolicTangent.value(-.infinity), -1)
        XCTAssertTrue(HyperbolicTangent.value(.nan).isNaN)
    }

    /// The activations run in parallel chunks; every element must equal the one-element call
    /// (bit for bit), for both precisions and every activation.
    func testParallelActivationEqualsElementwise() {
        let n = (1 << 17) + 3
        let r = CounterRandom(seed: 3, stream: .inputs)
        let u = (0..<n).map { 3 * r.normal($0) }
        for activation in Activation.allCases {
            var h = [Double](repeating: 0, count: n), d = h
            activation.apply(u, value: &h, derivative: &d, count: n)
            for i in stride(from: 0, to: n, by: 997) {
                var hi = 0.0, di = 0.0
                activation.apply([u[i]], value: &hi, derivative: &di, count: 1)
                XCTAssertEqual(h[i].bitPattern, hi.bitPattern, "\(activation) φ at \(i)")
                XCTAssertEqual(d[i].bitPattern, di.bitPattern, "\(activation) φ' at \(i)")
            }
            let u32 = u.map { Float($0) }
            var h32 = [Float](repeating: 0, count: n), d32 = h32
            activation.apply(u32, value: &h32, derivative: &d32, count: n)
            for i in stride(from: 0, to: n, by: 1009) {
                var hi: Float = 0, di: Float = 0
                activation.apply([u32[i]], value: &hi, derivative: &di, count: 1)
                XCTAssertEqual(h32[i].bitPattern, hi.bitPattern, "\(activation) float φ at \(i)")
                XCTAssertEqual(d32[i].bitPattern, di.bitPattern, "\(activation) float φ' at \(i)")
            }
        }
    }

    /// The kernel table: generic kernels rank below the CPU's best, and the CPU flags pick it.
    func testBLASKernelChoice() {
        XCTAssertEqual(BLASKernel.level(kernel: "Prescott"), 0)
        XCTAssertEqual(BLASKernel.level(kernel: "Haswell"), 2)
        XCTAssertEqual(BLASKernel.level(kernel: "SKYLAKEX"), 3)
        XCTAssertNil(BLASKernel.level(kernel: "armv8"))
        let avx512: Set<Substring> = ["fma", "avx2", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        XCTAssertEqual(BLASKernel.best(flags: avx512)?.name, "SkylakeX")
        XCTAssertEqual(BLASKernel.best(flags: avx512.subtracting(["avx512vl"]))?.name, "Haswell")
        XCTAssertNil(BLASKernel.best(flags: ["sse2", "avx"]))
    }

    /// Every record names the kernel that ran; a kernel set in the environment is reported as
    /// the user's choice and never replaced.
    func testRecordNamesTheKernel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-kernel-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("t.json").path
        let r = try WispExecutable.run(["top", "--width", "8", "--samples", "4", "--k", "1", "--quiet", "--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let machine = try XCTUnwrap((try ExactJSON.object(file: out))["machine"] as? [String: Any])
        let kernel = try XCTUnwrap(machine["blas_kernel"] as? String)
        if let set = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] {
            XCTAssertTrue(kernel.contains("OPENBLAS_CORETYPE=\(set))"), kernel)
            XCTAssertFalse(kernel.contains("set by Wisp"), kernel)
        } else {
            XCTAssertFalse(kernel.isEmpty)
        }
    }
}
